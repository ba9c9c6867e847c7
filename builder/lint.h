/* Lint of function code and layers for what would differ on Lambda:
 *  - every regular file named *.node (a Node.js native addon) must be an ELF for the image's
 *    architecture, 64-bit little-endian: otherwise an error naming the file, its machine and
 *    the expected one (the addon cannot load);
 *  - an addon needing GLIBC symbol versions above 2.26 (Amazon Linux 2's glibc) gets a warning
 *    naming the file and the highest version (it loads here, on a Debian base, but not on AL2);
 *  - a *.node file that is not ELF gets a warning;
 *  - files and directories the function's user could not read (no read permission for
 *    "others", or no search permission on a directory) get a warning: Lambda keeps the zip's
 *    permissions and fails with EACCES at run time. Only the first few are listed.
 * Symlinks are never followed. */
#ifndef LBOX_LINT_H
#define LBOX_LINT_H

#include <stddef.h>

#include "../common/error.h"

#define LBOX_LINT_WARNING 1
#define LBOX_LINT_ERROR 2

/* Highest glibc of Amazon Linux 2, the base of Lambda's nodejs14.x/16.x/18.x images. */
#define LBOX_LINT_GLIBC_MAJOR 2
#define LBOX_LINT_GLIBC_MINOR 26

struct lbox_lint_finding {
    int severity;  /* LBOX_LINT_WARNING or LBOX_LINT_ERROR */
    char *path;    /* root joined with the file's path below it */
    char *message; /* one sentence: what is wrong and what to do; does not repeat the path */
};

/* Walks the tree under `root` for an image of `arch` ("x86_64"/"amd64" or "arm64"/"aarch64").
 * Findings come back in path order in a malloc'd array (free with lbox_lint_findings_free);
 * -1 only when the walk itself fails (unknown arch, unreadable directory). A file whose ELF
 * headers are broken is an error finding, not a failed walk. */
int lbox_lint_tree(const char *root, const char *arch, struct lbox_lint_finding **findings,
                   size_t *n, struct lbox_error *err);

void lbox_lint_findings_free(struct lbox_lint_finding *findings, size_t n);

#endif
