/* Temporary entries in lbox's cache, told apart from the leftovers of killed lboxes by a
 * lock (see cache_temp.h). */
#include "cache_temp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

/* fd is open on what `path` names now (not on something a sweep deleted or replaced). */
static bool same_entry(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

int lbox_cache_temp(char *tmpl, bool dir, int *fd_out, struct lbox_error *err)
{
    *fd_out = -1;
    _cleanup_free_ char *orig = lbox_xstrdup(tmpl);
    const char *slash = strrchr(orig, '/');
    _cleanup_free_ char *parent = slash ? strndup(orig, (size_t)(slash - orig)) : lbox_xstrdup(".");
    /* A sweep may take the new entry between its creation and our lock; then it is
     * (being) deleted and another name is tried. */
    for (int attempt = 0; attempt < 8; attempt++) {
        strcpy(tmpl, orig);
        int fd;
        if (dir) {
            if (!mkdtemp(tmpl))
                return lbox_err_errno(err, errno, "cannot create a temporary folder in %s",
                                      parent);
            fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        } else {
            fd = mkostemp(tmpl, O_CLOEXEC);
            if (fd < 0)
                return lbox_err_errno(err, errno, "cannot create a temporary file in %s",
                                      parent);
        }
        if (fd < 0)
            continue;
        int locked = flock(fd, LOCK_EX | LOCK_NB), e = errno;
        if (locked == 0 && same_entry(fd, tmpl)) {
            *fd_out = fd;
            return 0;
        }
        close(fd);
        if (locked < 0 && e != EWOULDBLOCK && e != EINTR)
            return lbox_err_errno(err, e, "cannot lock %s", tmpl);
    }
    return lbox_err(err, LBOX_E_BUSY, "cannot keep a temporary entry in %s: another lbox "
                    "deletes each one as it is made", parent);
}

int lbox_cache_lock_temp(const char *path, int *fd_out)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !same_entry(fd, path)) {
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

int lbox_cache_lock_file(const char *path, int *fd_out, struct lbox_error *err)
{
    *fd_out = -1;
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            return lbox_err_errno(err, errno, "cannot open lock %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                return 1;
            return lbox_err_errno(err, e, "cannot lock %s", path);
        }
        if (same_entry(fd, path)) {
            *fd_out = fd;
            return 0;
        }
        close(fd); /* deleted by its last holder or a sweep since we opened it */
    }
    return lbox_err(err, LBOX_E_BUSY, "cannot hold the lock %s: another lbox deletes it each "
                    "time", path);
}

/* Deletes the entry `name` of `dir` if nobody holds it; true when it did. */
static bool delete_unheld(const char *dir, const char *name)
{
    _cleanup_free_ char *p = lbox_path_join(dir, name);
    struct stat sb;
    if (lstat(p, &sb) < 0 || !(S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)))
        return false; /* never opened: a FIFO would block, a device is not ours */
    _cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    /* Deleted under our lock: a maker that created it a moment ago and locks it only
     * now finds it gone (same_entry) and makes another. */
    return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && same_entry(fd, p) &&
           lbox_rm_rf(p, NULL) == 0;
}

size_t lbox_cache_sweep(const char *dir, bool (*is_temp)(const char *name))
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !is_temp(de->d_name))
            continue;
        if (delete_unheld(dir, de->d_name))
            n++;
    }
    closedir(d);
    return n;
}

/* `name` is `base` + ".lbox-tmp-" + six letters or digits, as mkstemp fills XXXXXX: only
 * lbox's own names, never a user's `base.tmp-backup`. */
static bool is_temp_of(const char *name, const char *base)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = strlen(base);
    if (strncmp(name, base, n) || strncmp(name + n, ".lbox-tmp-", 10))
        return false;
    const char *x = name + n + 10;
    return strspn(x, alnum) == 6 && x[6] == '\0';
}

size_t lbox_cache_sweep_siblings(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base)
        return 0; /* "dir/": its temporaries would be inside dir, among the user's files */
    _cleanup_free_ char *dir = lbox_parent_dir(path);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (is_temp_of(de->d_name, base) && delete_unheld(dir, de->d_name))
            n++;
    closedir(d);
    return n;
}
