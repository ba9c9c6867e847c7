#include "esm_links.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define LINKS_DIR "node_modules"

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The names in the image folder `dir` (sorted, so the layer is the same on every build);
 * NULL when absent. The folder is opened inside the image (rootfd): a layer's
 * `nodejs/node_modules -> /etc` or `-> ../../..` names a folder of the image, and reading
 * the host's instead would put the host's file names into the image. */
static char **names_in(int rootfd, const char *dir, size_t *n)
{
    int fd = lbox_open_in_root(rootfd, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return NULL;
    char **names = lbox_dir_names_at(fd, n);
    close(fd);
    return names;
}

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

/* A scope folder (@aws-sdk) holds packages of its own: each is linked, the folder made. */
static int link_scope(const char *root, int rootfd, const char *dir, const char *scope,
                      struct lbox_error *err)
{
    _cleanup_free_ char *src = lbox_strdupf("%s/%s", dir, scope);
    size_t n = 0;
    char **names = names_in(rootfd, src, &n);
    if (!names)
        return 0;
    _cleanup_free_ char *dst = lbox_strdupf("%s/" LINKS_DIR "/%s", root, scope);
    int rc = lbox_mkdir_p(dst, 0755, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (names[i][0] == '.')
            continue;
        _cleanup_free_ char *rel = lbox_strdupf("%s/%s", scope, names[i]);
        rc = link_package(root, dir, rel, err);
    }
    free_names(names, n);
    return rc;
}

static int link_dir(const char *root, int rootfd, const char *dir, struct lbox_error *err)
{
    size_t n = 0;
    char **names = names_in(rootfd, dir, &n);
    if (!names)
        return 0;
    _cleanup_free_ char *links = lbox_path_join(root, LINKS_DIR);
    int rc = lbox_mkdir_p(links, 0755, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *name = names[i];
        if (name[0] == '.')
            continue;
        rc = name[0] == '@' ? link_scope(root, rootfd, dir, name, err)
                            : link_package(root, dir, name, err);
    }
    free_names(names, n);
    return rc;
}

int lbox_esm_links(const char *root, const char *const *dirs, size_t ndirs,
                   struct lbox_error *err)
{
    _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return lbox_err_errno(err, errno, "making /" LINKS_DIR " for import: cannot open %s",
                              root);
    for (size_t d = 0; d < ndirs; d++)
        if (link_dir(root, rootfd, dirs[d], err) < 0)
            return lbox_err_prefix(err, "making /" LINKS_DIR " for import");
    return 0;
}
