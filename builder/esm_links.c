#include "esm_links.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define LINKS_DIR "node_modules"

static int hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* Links LINKS_DIR/<rel> to /<dir>/<rel> unless a folder listed earlier already did. */
static int link_package(const char *root, const char *dir, const char *rel,
                        struct lbox_error *err)
{
    _cleanup_free_ char *at = lbox_strdupf("%s/" LINKS_DIR "/%s", root, rel);
    struct stat st;
    if (lstat(at, &st) == 0)
        return 0;
    _cleanup_free_ char *target = lbox_strdupf("/%s/%s", dir, rel);
    if (symlink(target, at) < 0)
        return lbox_err_errno(err, errno, "cannot link %s to %s", at, target);
    return 0;
}

/* The names in a folder, sorted (the layer is the same on every build); -1 when absent. */
static int names_in(const char *path, struct dirent ***names)
{
    return scandir(path, names, hidden, alphasort);
}

static void free_names(struct dirent **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* A scope folder (@aws-sdk) holds packages of its own: each is linked, the folder made. */
static int link_scope(const char *root, const char *dir, const char *scope,
                      struct lbox_error *err)
{
    _cleanup_free_ char *src = lbox_strdupf("%s/%s/%s", root, dir, scope);
    struct dirent **names = NULL;
    int n = names_in(src, &names);
    if (n < 0)
        return 0;
    _cleanup_free_ char *dst = lbox_strdupf("%s/" LINKS_DIR "/%s", root, scope);
    int rc = lbox_mkdir_p(dst, 0755, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        _cleanup_free_ char *rel = lbox_strdupf("%s/%s", scope, names[i]->d_name);
        rc = link_package(root, dir, rel, err);
    }
    free_names(names, n);
    return rc;
}

int lbox_esm_links(const char *root, const char *const *dirs, size_t ndirs,
                   struct lbox_error *err)
{
    for (size_t d = 0; d < ndirs; d++) {
        _cleanup_free_ char *src = lbox_path_join(root, dirs[d]);
        struct dirent **names = NULL;
        int n = names_in(src, &names);
        if (n < 0)
            continue;
        _cleanup_free_ char *links = lbox_path_join(root, LINKS_DIR);
        int rc = lbox_mkdir_p(links, 0755, err);
        for (int i = 0; rc == 0 && i < n; i++) {
            const char *name = names[i]->d_name;
            rc = name[0] == '@' ? link_scope(root, dirs[d], name, err)
                                : link_package(root, dirs[d], name, err);
        }
        free_names(names, n);
        if (rc < 0)
            return lbox_err_prefix(err, "making /" LINKS_DIR " for import");
    }
    return 0;
}
