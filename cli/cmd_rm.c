/* lbox rm: untag images; blobs nothing else uses are deleted. */
#include <getopt.h>
#include <stdio.h>

#include "builder/store.h"
#include "commands.h"
#include "output.h"

static const char usage_text[] =
    "usage: lbox rm REF...\n"
    "\n"
    "Removes images from the local store. REF is name[:tag] (\":latest\" when no tag), or a\n"
    "manifest digest or its unique prefix (removes every tag of that image). Layers no other\n"
    "image uses are deleted (later, if another lbox is building at the same time), and so is\n"
    "the image's unpacked root filesystem in the cache (in the background; later, if an\n"
    "lbox invoke is running it). A build that moves a tag to a new image does the same for\n"
    "the image the tag named before.\n"
    "\n"
    "  -h, --help  this text\n"
    "\n"
    "Exit codes: 0 all removed, 1 some REF could not be removed, 2 bad usage.\n";

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
    for (int i = optind; i < argc; i++) {
        if (lbox_store_remove(st, argv[i], &err) < 0) {
            lbox_print_error("rm", &err);
            status = 1;
        } else {
            printf("removed %s\n", argv[i]);
        }
    }
    lbox_store_close(st);
    return status;
}
