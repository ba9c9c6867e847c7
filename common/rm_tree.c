/* rm -rf that no tree can defeat.
 *
 * nftw hands out whole paths, and fails on a tree deeper than PATH_MAX: an npm install
 * script (the function's code) made one in a build's staging folder, which then stayed in
 * the cache for good, since every later sweep failed the same way. Here the walk moves one
 * directory at a time with openat and removes with unlinkat, so no path is ever longer
 * than one name, and it holds one directory open at a time, so no depth runs it out of file
 * descriptors: the names on the way down are kept on the heap, and the way up is "..",
 * checked against the directory that was come down from. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct level {
    char *name;       /* this directory's name in its parent */
    dev_t dev;        /* its parent's identity, to check the way back up */
    ino_t ino;
};

/* Makes a directory we are about to enter or empty writable and searchable (a tree
 * unpacked from an archive may hold read-only ones). */
static void make_usable(int parent, const char *name, const struct stat *st)
{
    if ((st->st_mode & S_IRWXU) != S_IRWXU)
        fchmodat(parent, name, (st->st_mode & 07777) | S_IRWXU, 0);
}

/* Empties the directory `fd` of everything but directories, and returns the name of the
 * first directory left in it (malloc'd), NULL when none. -1 in *failed, with errno, when
 * something cannot be removed or read. */
static char *clear_files(int fd, dev_t dev, struct stat *sub_st, int *failed)
{
    int dup_fd = dup(fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        *failed = -1;
        return NULL;
    }
    rewinddir(d); /* the dup shares its offset with fd, which an earlier pass moved */
    char *sub = NULL;
    for (struct dirent *de; !sub && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            *failed = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) { /* a mount point: what is beneath is not ours */
                errno = EXDEV;
                *failed = -1;
                break;
            }
            *sub_st = st;
            sub = lbox_xstrdup(de->d_name);
        } else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
            *failed = -1;
            break;
        }
    }
    int e = errno;
    closedir(d);
    errno = e;
    return sub;
}

int lbox_rm_rf(const char *path, struct lbox_error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : lbox_err_errno(err, errno, "cannot remove %s", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return lbox_err_errno(err, errno, "cannot remove %s", path);
        return 0;
    }
    if ((st.st_mode & S_IRWXU) != S_IRWXU)
        chmod(path, (st.st_mode & 07777) | S_IRWXU);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : lbox_err_errno(err, errno, "cannot remove %s", path);

    struct level *stack = NULL;
    size_t depth = 0, cap = 0;
    int failed = 0;
    for (;;) {
        struct stat sub_st;
        char *sub = clear_files(fd, st.st_dev, &sub_st, &failed);
        if (failed < 0)
            break;
        if (sub) { /* down into it */
            make_usable(fd, sub, &sub_st);
            struct stat here;
            int child = fstat(fd, &here) == 0
                            ? openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                            : -1;
            if (child < 0) {
                free(sub);
                failed = -1;
                break;
            }
            if (depth == cap) {
                cap = cap ? cap * 2 : 64;
                stack = lbox_xrealloc(stack, cap * sizeof *stack);
            }
            stack[depth++] = (struct level){sub, here.st_dev, here.st_ino};
            close(fd);
            fd = child;
            continue;
        }
        if (depth == 0) /* the top is empty */
            break;
        /* Back up, and remove the directory just emptied. */
        struct level *top = &stack[depth - 1];
        int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat pst;
        if (parent < 0 || fstat(parent, &pst) < 0 || pst.st_dev != top->dev ||
            pst.st_ino != top->ino) {
            if (parent >= 0)
                close(parent);
            errno = parent < 0 ? errno : ESTALE; /* moved while we were inside */
            failed = -1;
            break;
        }
        close(fd);
        fd = parent;
        int r = unlinkat(fd, top->name, AT_REMOVEDIR);
        free(top->name);
        depth--;
        if (r < 0 && errno != ENOENT) {
            failed = -1;
            break;
        }
    }
    int e = errno;
    close(fd);
    for (size_t i = 0; i < depth; i++)
        free(stack[i].name);
    free(stack);
    if (failed < 0)
        return lbox_err_errno(err, e, "cannot remove %s", path);
    if (rmdir(path) < 0 && errno != ENOENT)
        return lbox_err_errno(err, errno, "cannot remove %s", path);
    return 0;
}
