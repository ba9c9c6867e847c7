/* Hard-link copies of a directory tree. Directories cannot be hard-linked, so each is made
 * anew and given the original's metadata once filled (a read-only original must not stop
 * the filling, and a setgid bit must survive the chown). Everything else is linked: no data
 * is written, and the only new inodes are the directories'. */
#include "tree_link.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

/* Gives the directory dfd the mode, times and (as root) owner of the original `st`. */
static int copy_dir_meta(int dfd, const struct stat *st, bool as_root, const char *path,
                         struct lbox_error *err)
{
    if (as_root && fchown(dfd, st->st_uid, st->st_gid) < 0)
        return lbox_err_errno(err, errno, "cannot chown %s", path);
    if (fchmod(dfd, st->st_mode & 07777) < 0)
        return lbox_err_errno(err, errno, "cannot chmod %s", path);
    const struct timespec times[2] = {st->st_atim, st->st_mtim};
    if (futimens(dfd, times) < 0)
        return lbox_err_errno(err, errno, "cannot set the times of %s", path);
    return 0;
}

/* A private copy of the regular file `name`, for an inode at the file system's link limit. */
static int copy_regular(int sfd, int dfd, const char *name, const char *dir, bool as_root,
                        struct lbox_error *err)
{
    struct stat st;
    _cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0)
        return lbox_err_errno(err, errno, "cannot read %s/%s", dir, name);
    _cleanup_close_ int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0 || lbox_copy_fd(in, out) < 0)
        return lbox_err_errno(err, errno, "cannot copy %s/%s", dir, name);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if ((as_root && fchown(out, st.st_uid, st.st_gid) < 0) ||
        fchmod(out, st.st_mode & 07777) < 0 || futimens(out, times) < 0)
        return lbox_err_errno(err, errno, "cannot copy the metadata of %s/%s", dir, name);
    return 0;
}

static int fill(int sfd, int dfd, const char *dir, bool as_root, struct lbox_error *err);

/* Makes the subdirectory `name` of dfd, fills it from sfd's, then copies its metadata. */
static int link_subdir(int sfd, int dfd, const char *name, const char *dir, bool as_root,
                       struct lbox_error *err)
{
    _cleanup_free_ char *path = lbox_path_join(dir, name);
    struct stat st;
    _cleanup_close_ int s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0 || fstat(s, &st) < 0)
        return lbox_err_errno(err, errno, "cannot open %s", path);
    if (mkdirat(dfd, name, 0700) < 0)
        return lbox_err_errno(err, errno, "cannot make the copy of %s", path);
    _cleanup_close_ int d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0)
        return lbox_err_errno(err, errno, "cannot open the copy of %s", path);
    if (fill(s, d, path, as_root, err) < 0)
        return -1;
    return copy_dir_meta(d, &st, as_root, path, err);
}

/* Links or makes every entry of the directory sfd (named `dir`, for messages) into dfd. */
static int fill(int sfd, int dfd, const char *dir, bool as_root, struct lbox_error *err)
{
    int own = fcntl(sfd, F_DUPFD_CLOEXEC, 0); /* closedir closes it, not the caller's */
    DIR *d = own >= 0 ? fdopendir(own) : NULL;
    if (!d) {
        int e = errno;
        if (own >= 0)
            close(own);
        return lbox_err_errno(err, e, "cannot read %s", dir);
    }
    int r = 0;
    struct dirent *de;
    while (r == 0) {
        errno = 0;
        if (!(de = readdir(d))) {
            if (errno)
                r = lbox_err_errno(err, errno, "cannot read %s", dir);
            break;
        }
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) { /* file systems that do not say: ask */
            struct stat st;
            if (fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = lbox_err_errno(err, errno, "cannot stat %s/%s", dir, n);
                break;
            }
            is_dir = S_ISDIR(st.st_mode);
        }
        if (is_dir)
            r = link_subdir(sfd, dfd, n, dir, as_root, err);
        else if (linkat(sfd, n, dfd, n, 0) < 0) { /* 0: a symlink itself, never its target */
            struct stat st;
            if (errno == EMLINK && fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode))
                r = copy_regular(sfd, dfd, n, dir, as_root, err);
            else
                r = lbox_err_errno(err, errno, "cannot link %s/%s", dir, n);
        }
    }
    closedir(d);
    return r;
}

int lbox_tree_link(const char *src, const char *dst, struct lbox_error *err)
{
    bool as_root = geteuid() == 0;
    struct stat st;
    _cleanup_close_ int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s < 0 || fstat(s, &st) < 0)
        return lbox_err_errno(err, errno, "cannot open %s", src);
    _cleanup_close_ int d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return lbox_err_errno(err, errno, "cannot open %s", dst);
    if (fill(s, d, src, as_root, err) < 0)
        return -1;
    return copy_dir_meta(d, &st, as_root, src, err);
}
