/* lbox rm: untag images; blobs nothing else uses are deleted. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/store.h"
#include "commands.h"
#include "output.h"

static const char usage_text[] =
    "usage: lbox rm REF...\n"
    "\n"
    "Removes images from the local store. REF is name[:tag] (\":latest\" when no tag), or a\n"
    "manifest digest or its unique prefix (removes every tag of that image). Layers no other\n"
    "image uses are deleted (later, if another lbox is using the store at the same time:\n"
    "building, listing or starting an invoke), and so is the image's unpacked root\n"
    "filesystem in the cache (in the background; later, if an lbox invoke is running it).\n"
    "A build that moves a tag to a new image does the same for the image the tag named\n"
    "before. When the tag is removed but deleting what it left fails, a warning says why\n"
    "and the exit code is still 0 (a later rm or build deletes it).\n"
    "\n"
    "  -h, --help  this text\n"
    "\n"
    "Exit codes: 0 all removed, 1 some REF could not be removed, 2 bad usage.\n";

/* Removes one REF and says what went: "removed <tag>" for a tag; for a digest (prefix), one
 * such line per tag of the image, then "removed <digest>". */
static int remove_one(struct lbox_store *st, const char *ref)
{
    struct lbox_error err = {0};
    /* What a digest names is read before it goes: a REF that is a tag is a tag, whatever
     * digits it holds (the store resolves the same way). */
    struct lbox_store_image *imgs = NULL;
    size_t n = 0;
    char digest[72] = "";
    bool by_digest = false;
    const char *shown = ref; /* the tag by its full name ("hello" removes "hello:latest") */
    if (lbox_store_list(st, &imgs, &n, &err) == 0) {
        char *norm = lbox_ref_normalize(ref, NULL);
        by_digest = true;
        for (size_t i = 0; i < n; i++) /* a tag as lbox writes it, or as another tool did */
            if ((norm && !strcmp(imgs[i].ref, norm)) || !strcmp(imgs[i].ref, ref)) {
                by_digest = false;
                if (norm && !strcmp(imgs[i].ref, norm))
                    shown = imgs[i].ref;
            }
        free(norm);
        if (by_digest && lbox_store_resolve(st, ref, digest, &err) < 0)
            by_digest = false; /* lbox_store_remove reports why */
    }
    int status = 0, r = lbox_store_remove(st, ref, &err);
    if (r < 0) {
        lbox_print_error("rm", &err);
        status = 1;
    } else if (by_digest) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(imgs[i].manifest_digest, digest))
                printf("removed %s\n", imgs[i].ref);
        printf("removed %s\n", digest);
    } else {
        printf("removed %s\n", shown);
    }
    if (r > 0) {
        fflush(stdout);
        lbox_print_warning("rm", err.msg);
    }
    lbox_store_images_free(imgs, n);
    return status;
}

int cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        }
        fputs(usage_text, stderr);
        return 2;
    }
    if (optind == argc) {
        fprintf(stderr, "lbox rm: name at least one image\n%s", usage_text);
        return 2;
    }
    struct lbox_error err = {0};
    struct lbox_store *st;
    if (lbox_store_open(NULL, &st, &err) < 0) {
        lbox_print_error("rm", &err);
        return 1;
    }
    int status = 0;
    for (int i = optind; i < argc; i++)
        if (remove_one(st, argv[i]) != 0)
            status = 1;
    lbox_store_close(st);
    return status;
}
