/* Small file-system helpers shared by every module. All return 0 / -1 with *err filled. */
#ifndef LBOX_FSUTIL_H
#define LBOX_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* mkdir -p with the given mode for created directories. */
int lbox_mkdir_p(const char *path, mode_t mode, struct lbox_error *err);

/* rm -rf; a missing path is not an error. Never follows symlinks, never crosses into
 * another file system, and takes trees of any depth (rm_tree.c). */
int lbox_rm_rf(const char *path, struct lbox_error *err);

/* Reads a whole file (max `limit` bytes, 0 = no limit) into a NUL-terminated buffer; past
 * the limit it stops reading (a pipe or /dev/zero included) and fails with LBOX_E_LIMIT.
 * lbox_read_fd does the same from an open descriptor, `name` naming it in errors. */
int lbox_read_fd(int fd, const char *name, size_t limit, char **data, size_t *len,
                 struct lbox_error *err);
int lbox_read_file(const char *path, size_t limit, char **data, size_t *len, struct lbox_error *err);

/* Writes data to `path` through `path.tmp.<pid>` + fsync + rename: readers never see half a file. */
int lbox_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct lbox_error *err);

/* A file the user asked for (an image archive, a rootfs tarball) that appears at `path`
 * complete or not at all, and that a writer killed half way (Ctrl-C, kill -9) does not
 * leave behind under a temporary name.
 *
 * lbox_out_open creates it without a name in the folder of `path` (O_TMPFILE), open for
 * writing on o->fd. lbox_out_commit gives it `mode`, fsyncs it and names it: a link to a
 * temporary name beside `path`, renamed over `path` (a link cannot replace a file).
 * lbox_out_abandon drops it. Commit and abandon both release *o, and abandoning an *o that
 * is released or failed to open does nothing, so `_cleanup_out_file_` can abandon on every
 * return path. A failed open leaves nothing to release.
 *
 * Where the file system has no O_TMPFILE or /proc is not mounted (the link goes through
 * /proc/self/fd), the file gets its temporary name `path.lbox-tmp-XXXXXX` at once, and a killed
 * writer leaves it. Either way the writer holds an flock on the file, so a temporary name
 * nobody holds is a killed writer's leftover: lbox_cache_sweep_siblings (builder/
 * cache_temp.h) deletes those. */
struct lbox_out_file {
    int fd;
    char *path;
    char *tmp; /* its temporary name; NULL while it has none */
    mode_t mode;
};
int lbox_out_open(struct lbox_out_file *o, const char *path, mode_t mode, struct lbox_error *err);
int lbox_out_commit(struct lbox_out_file *o, struct lbox_error *err);
void lbox_out_abandon(struct lbox_out_file *o);
#define _cleanup_out_file_ __attribute__((cleanup(lbox_out_abandon)))

/* Tests only: true makes lbox_out_open take the fallback, as without O_TMPFILE. */
extern bool lbox_out_no_tmpfile;

/* write(2) until all of data is written (EINTR retried); -1 with errno on failure. */
int lbox_write_all(int fd, const void *data, size_t len);

/* Copies what is left to read from `in` to `out`; -1 with errno on failure. */
int lbox_copy_fd(int in, int out);

/* Copies a regular file (mode preserved), via a temp name and rename. */
int lbox_copy_file(const char *src, const char *dst, struct lbox_error *err);

/* The folder `path` is in, malloc'd: "." for a bare name, "/" for "/x". */
char *lbox_parent_dir(const char *path);

/* Returns a malloc'd "a/b" (one slash between). Never NULL (aborts on OOM). */
char *lbox_path_join(const char *a, const char *b);

/* malloc'd printf; aborts on OOM (library code treats OOM as fatal, like git's xmalloc). */
char *lbox_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *lbox_xmalloc(size_t n);
void *lbox_xcalloc(size_t n, size_t m);
void *lbox_xrealloc(void *p, size_t n);
char *lbox_xstrdup(const char *s);

/* $XDG_CACHE_HOME/lbox (or ~/.cache/lbox) and $XDG_DATA_HOME/lbox (or ~/.local/share/lbox). */
char *lbox_cache_dir(void);
char *lbox_data_dir(void);

/* The entries of the directory open at dfd (without "." and ".."), sorted bytewise so every
 * file system gives the same order. Returns a malloc'd array of n malloc'd names (plus a
 * NULL end), or NULL with errno set. dfd stays open and is not moved. */
char **lbox_dir_names_at(int dfd, size_t *n);

/* Opens `path` (relative or absolute) of the tree whose root directory is open at rootfd, as
 * a process whose root is that tree would: absolute and `..` links resolve inside it
 * (openat2 RESOLVE_IN_ROOT), never on the host, whose files an image must not name. flags
 * as for openat (O_CLOEXEC is added). Returns the fd, or -1 with errno set. */
int lbox_open_in_root(int rootfd, const char *path, int flags);

/* Whether `path` of the image rooted at rootfd exists, following its links inside it
 * (access(F_OK) as seen from inside the image). */
int lbox_exists_in_root(int rootfd, const char *path);


#endif
