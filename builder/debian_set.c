/* The resolved package set: its manifest (what went into the image, for people and
 * scanners) and its memory. */
#include "debian_internal.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct lbox_deb_pkg *)a)->name, ((const struct lbox_deb_pkg *)b)->name);
}

int lbox_deb_set_write_manifest(const struct lbox_deb_set *s, const char *path,
                                struct lbox_error *err)
{
    /* Sort a copy of the pointers' order so a hand-built set is written sorted too. */
    struct lbox_deb_pkg *sorted = lbox_xcalloc(s->n ? s->n : 1, sizeof *sorted);
    if (s->n)
        memcpy(sorted, s->pkgs, s->n * sizeof *sorted);
    qsort(sorted, s->n, sizeof *sorted, cmp_name);
    size_t cap = 4096, len = 0;
    char *text = lbox_xmalloc(cap);
    text[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        _cleanup_free_ char *line = lbox_strdupf("%s %s %s %s\n", sorted[i].name,
                                                 sorted[i].version, sorted[i].arch,
                                                 sorted[i].sha256);
        size_t l = strlen(line);
        if (len + l + 1 > cap) {
            cap = (len + l + 1) * 2;
            text = lbox_xrealloc(text, cap);
        }
        memcpy(text + len, line, l + 1);
        len += l;
    }
    free(sorted);
    _cleanup_free_ char *dir_copy = lbox_xstrdup(path);
    int rc = lbox_mkdir_p(dirname(dir_copy), 0755, err);
    if (rc == 0)
        rc = lbox_write_file_atomic(path, text, len, 0644, err);
    free(text);
    return rc;
}

void lbox_deb_set_free(struct lbox_deb_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->pkgs[i].name);
        free(s->pkgs[i].version);
        free(s->pkgs[i].arch);
        free(s->pkgs[i].filename);
        free(s->pkgs[i].sha256);
    }
    free(s->pkgs);
    s->pkgs = NULL;
    s->n = 0;
}
