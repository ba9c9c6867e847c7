#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

/* Out of memory: nothing sensible is left to do but stop, and say why first (a bare abort
 * under a small `ulimit -v` looked like a crash). write(2), as stdio may need memory. */
static _Noreturn void out_of_memory(size_t n)
{
    char msg[160], size[48] = "";
    if (n)
        snprintf(size, sizeof size, " (asking for %zu bytes)", n);
    int len = snprintf(msg, sizeof msg, "lbox: out of memory%s; free some memory or raise "
                       "the limit (ulimit -v)\n", size);
    if (len > 0 && write(STDERR_FILENO, msg, (size_t)len) < 0) {
        /* nowhere to say it */
    }
    abort();
}

void *lbox_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *lbox_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        out_of_memory(n * m);
    return p;
}

void *lbox_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

char *lbox_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        out_of_memory(strlen(s) + 1);
    return p;
}

char *lbox_strdupf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        out_of_memory(0);
    return s;
}

char *lbox_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    return lbox_strdupf("%.*s/%s", (int)la, a, b);
}

int lbox_mkdir_p(const char *path, mode_t mode, struct lbox_error *err)
{
    _cleanup_free_ char *p = lbox_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return lbox_err_errno(err, errno, "cannot create directory %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return lbox_err_errno(err, errno, "cannot create directory %s", p);
    struct stat st;
    if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
        return lbox_err(err, LBOX_E_IO, "%s exists and is not a directory", p);
    return 0;
}

int lbox_read_fd(int fd, const char *name, size_t limit, char **data, size_t *len,
                 struct lbox_error *err)
{
    size_t cap = 8192, n = 0;
    if (limit && cap > limit)
        cap = limit + 1;
    char *buf = lbox_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            /* Never more than one byte past the limit: that byte is how we know. */
            cap = limit && cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            buf = lbox_xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return lbox_err_errno(err, errno, "cannot read %s", name);
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (limit && n > limit) {
            free(buf);
            return lbox_err(err, LBOX_E_LIMIT, "%s is larger than %zu bytes", name, limit);
        }
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

int lbox_read_file(const char *path, size_t limit, char **data, size_t *len, struct lbox_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot open %s", path);
    return lbox_read_fd(fd, path, limit, data, len, err);
}

int lbox_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int lbox_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct lbox_error *err)
{
    _cleanup_free_ char *tmp = lbox_strdupf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot create %s", tmp);
    if (lbox_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return lbox_err_errno(err, e, "cannot write %s", path);
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return lbox_err_errno(err, e, "cannot write %s", path);
    }
    return 0;
}

int lbox_copy_fd(int in, int out)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (lbox_write_all(out, buf, (size_t)r) < 0)
            return -1;
    }
}

int lbox_copy_file(const char *src, const char *dst, struct lbox_error *err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return lbox_err_errno(err, errno, "cannot open %s", src);
    struct stat st;
    if (fstat(in, &st) < 0)
        return lbox_err_errno(err, errno, "cannot stat %s", src);
    _cleanup_free_ char *tmp = lbox_strdupf("%s.tmp.%d", dst, (int)getpid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
    if (out < 0)
        return lbox_err_errno(err, errno, "cannot create %s", tmp);
    if (lbox_copy_fd(in, out) < 0) {
        int e = errno;
        close(out);
        unlink(tmp);
        return lbox_err_errno(err, e, "cannot copy %s to %s", src, dst);
    }
    fchmod(out, st.st_mode & 07777);
    if (close(out) < 0 || rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return lbox_err_errno(err, e, "cannot copy %s to %s", src, dst);
    }
    return 0;
}

bool lbox_out_no_tmpfile;

char *lbox_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return lbox_xstrdup(".");
    return lbox_strdupf("%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/* fd is open on what `path` names now, not on something a sweep deleted in between. */
static bool same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

/* `path.lbox-tmp-XXXXXX` with six random letters and digits, like mkstemp's, so one sweep
 * pattern covers both ways of naming; "lbox" in it keeps the sweep off a user's own
 * `path.tmp-backup`. */
static char *temp_name(const char *path)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = ((uint64_t)ts.tv_nsec * 2654435761u) ^ ((uint64_t)getpid() << 32);
    }
    char x[7];
    for (int i = 0; i < 6; i++, v /= 62)
        x[i] = chars[v % 62];
    x[6] = '\0';
    return lbox_strdupf("%s.lbox-tmp-%s", path, x);
}

/* An unnamed file in `dir`, or -1: errno EOPNOTSUPP, EISDIR or EINVAL when it cannot be
 * had here and the caller falls back to a named one. */
static int open_unnamed(const char *dir, mode_t mode)
{
    if (lbox_out_no_tmpfile) {
        errno = EOPNOTSUPP;
        return -1;
    }
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    /* Without /proc it could never be linked: find that out before writing it all. */
    char proc[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    struct stat a, b;
    if (fstat(fd, &a) < 0 || stat(proc, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd);
        errno = EOPNOTSUPP;
        return -1;
    }
    /* Nobody else can reach it yet; the lock covers the temporary name it gets on commit. */
    flock(fd, LOCK_EX | LOCK_NB);
    return fd;
}

/* The fallback: `path.lbox-tmp-XXXXXX`, locked. A sweep by another lbox writing to the same path
 * may take the new file before the lock; then another name is tried. */
static int open_named(struct lbox_out_file *o, struct lbox_error *err)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        char *tmp = lbox_strdupf("%s.lbox-tmp-XXXXXX", o->path);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
            int r = lbox_err_errno(err, errno, "cannot create %s", tmp);
            free(tmp);
            return r;
        }
        /* A file system without flock cannot be swept either: keep the file unlocked. */
        bool ours = flock(fd, LOCK_EX | LOCK_NB) == 0 ? same_file(fd, tmp) : errno != EWOULDBLOCK;
        if (ours) {
            o->fd = fd;
            o->tmp = tmp;
            return 0;
        }
        close(fd);
        free(tmp);
    }
    return lbox_err(err, LBOX_E_BUSY, "cannot keep a temporary file next to %s: another lbox "
                    "deletes each one as it is made", o->path);
}

int lbox_out_open(struct lbox_out_file *o, const char *path, mode_t mode, struct lbox_error *err)
{
    *o = (struct lbox_out_file){.fd = -1, .path = lbox_xstrdup(path), .mode = mode};
    _cleanup_free_ char *dir = lbox_parent_dir(path);
    o->fd = open_unnamed(dir, mode);
    if (o->fd >= 0)
        return 0;
    int r;
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
        r = open_named(o, err);
    else
        r = lbox_err_errno(err, errno, "cannot create %s", path);
    if (r < 0)
        lbox_out_abandon(o);
    return r;
}

/* linkat cannot replace a file, so the unnamed one gets a fresh temporary name first. */
static int link_unnamed(struct lbox_out_file *o, struct lbox_error *err)
{
    char proc[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        char *tmp = temp_name(o->path);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) {
            o->tmp = tmp;
            return 0;
        }
        int e = errno;
        if (e != EEXIST) {
            lbox_err_errno(err, e, "cannot create %s", tmp);
            free(tmp);
            return -1;
        }
        free(tmp);
    }
    return lbox_err(err, LBOX_E_IO, "cannot find a free temporary name next to %s", o->path);
}

int lbox_out_commit(struct lbox_out_file *o, struct lbox_error *err)
{
    int r = 0;
    if (fchmod(o->fd, o->mode) < 0 || fsync(o->fd) < 0)
        r = lbox_err_errno(err, errno, "cannot write %s", o->tmp ? o->tmp : o->path);
    if (r == 0 && !o->tmp)
        r = link_unnamed(o, err);
    if (r == 0 && rename(o->tmp, o->path) < 0)
        r = lbox_err_errno(err, errno, "cannot rename %s to %s", o->tmp, o->path);
    if (r == 0) {
        free(o->tmp); /* it is `path` now: abandoning must not unlink it */
        o->tmp = NULL;
    }
    lbox_out_abandon(o);
    return r;
}

void lbox_out_abandon(struct lbox_out_file *o)
{
    if (o->tmp)
        unlink(o->tmp);
    if (o->fd >= 0)
        close(o->fd);
    free(o->tmp);
    free(o->path);
    *o = (struct lbox_out_file){.fd = -1};
}

/* The user's home: $HOME, else the password database's. Never a shared folder such as
 * /tmp, where another user could plant a store or cached layers first; with no home at
 * all, Debian's name for none, where nothing can be created and the error says so. */
static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return home;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/nonexistent";
}

static char *xdg_dir(const char *var, const char *fallback)
{
    const char *v = getenv(var);
    if (v && v[0] == '/')
        return lbox_path_join(v, "lbox");
    return lbox_strdupf("%s/%s/lbox", home_dir(), fallback);
}

char *lbox_cache_dir(void) { return xdg_dir("XDG_CACHE_HOME", ".cache"); }
char *lbox_data_dir(void) { return xdg_dir("XDG_DATA_HOME", ".local/share"); }

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **lbox_dir_names_at(int dfd, size_t *n)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return NULL;
    }
    rewinddir(d); /* a dup shares the offset: start from the top whatever was read before */
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (count + 1 >= cap) {
            cap = cap ? cap * 2 : 32;
            names = lbox_xrealloc(names, cap * sizeof *names);
        }
        names[count++] = lbox_xstrdup(de->d_name);
    }
    closedir(d);
    if (!names)
        names = lbox_xcalloc(1, sizeof *names);
    names[count] = NULL;
    qsort(names, count, sizeof *names, cmp_names);
    *n = count;
    return names;
}

int lbox_open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

int lbox_exists_in_root(int rootfd, const char *path)
{
    int fd = lbox_open_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}
