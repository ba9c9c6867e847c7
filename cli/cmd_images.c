/* lbox images: the local store as a table (or JSON). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "builder/store.h"
#include "commands.h"
#include "output.h"

static const char usage_text[] =
    "usage: lbox images [--json]\n"
    "\n"
    "Lists the images in the local store ($XDG_DATA_HOME/lbox/store).\n"
    "\n"
    "  --json      one JSON array of {ref, runtime, arch, digest, size, created};\n"
    "              runtime, arch and created are null for a damaged image\n"
    "  -h, --help  this text\n"
    "\n"
    "Exit codes: 0 listed, 1 the store could not be read, 2 bad usage.\n";

/* The store shows what a damaged image's config no longer says as "?": null for scripts. */
static json_t *known(const char *s)
{
    return s && strcmp(s, "?") ? json_string(s) : json_null();
}

static void print_json(const struct lbox_store_image *imgs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:o, s:o, s:s, s:I, s:o}", "ref", imgs[i].ref,
                                           "runtime", known(imgs[i].runtime), "arch",
                                           known(imgs[i].arch), "digest",
                                           imgs[i].manifest_digest, "size",
                                           (json_int_t)imgs[i].size, "created",
                                           known(imgs[i].created)));
    json_dumpf(a, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(a);
}

static void print_table(const struct lbox_store_image *imgs, size_t n)
{
    int wref = (int)strlen("REPOSITORY:TAG"), wrt = (int)strlen("RUNTIME"), warch = 6;
    for (size_t i = 0; i < n; i++) {
        if ((int)strlen(imgs[i].ref) > wref)
            wref = (int)strlen(imgs[i].ref);
        if ((int)strlen(imgs[i].runtime) > wrt)
            wrt = (int)strlen(imgs[i].runtime);
        if ((int)strlen(imgs[i].arch) > warch)
            warch = (int)strlen(imgs[i].arch);
    }
    printf("%-*s  %-*s  %-*s  %-12s  %9s  %s\n", wref, "REPOSITORY:TAG", wrt, "RUNTIME", warch,
           "ARCH", "DIGEST", "SIZE", "CREATED");
    for (size_t i = 0; i < n; i++) {
        char size[32];
        lbox_human_size(imgs[i].size, size, sizeof size);
        printf("%-*s  %-*s  %-*s  %-12.12s  %9s  %s\n", wref, imgs[i].ref, wrt, imgs[i].runtime,
               warch, imgs[i].arch, imgs[i].manifest_digest + 7, size, imgs[i].created);
    }
}

int cmd_images(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lbox images: unexpected argument '%s'\n%s", argv[optind], usage_text);
        return 2;
    }
    struct lbox_error err = {0};
    struct lbox_store *st;
    struct lbox_store_image *imgs;
    size_t n;
    if (lbox_store_open(NULL, &st, &err) < 0) {
        lbox_print_error("images", &err);
        return 1;
    }
    int r = lbox_store_list(st, &imgs, &n, &err);
    lbox_store_close(st);
    if (r < 0) {
        lbox_print_error("images", &err);
        return 1;
    }
    if (json)
        print_json(imgs, n);
    else
        print_table(imgs, n);
    lbox_store_images_free(imgs, n);
    return 0;
}
