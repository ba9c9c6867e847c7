#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

void *lbox_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

void *lbox_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        abort();
    return p;
}

void *lbox_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

char *lbox_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
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
        abort();
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

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
    return (r < 0 && errno != ENOENT) ? -1 : 0;
}

/* A tree unpacked from an archive may hold read-only directories; make them writable so
 * their entries can be removed. */
static int make_writable(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_D || type == FTW_DNR)
        chmod(path, (st->st_mode & 07777) | S_IRWXU);
    return 0;
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
    nftw(path, make_writable, 32, FTW_PHYS);
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
        return lbox_err_errno(err, errno, "cannot remove %s", path);
    return 0;
}

int lbox_read_file(const char *path, size_t limit, char **data, size_t *len, struct lbox_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot open %s", path);
    size_t cap = 8192, n = 0;
    char *buf = lbox_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = lbox_xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return lbox_err_errno(err, errno, "cannot read %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (limit && n > limit) {
            free(buf);
            return lbox_err(err, LBOX_E_LIMIT, "%s is larger than %zu bytes", path, limit);
        }
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
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

static char *xdg_dir(const char *var, const char *fallback)
{
    const char *v = getenv(var);
    if (v && v[0] == '/')
        return lbox_path_join(v, "lbox");
    const char *home = getenv("HOME");
    if (!home || !*home)
        home = "/tmp";
    return lbox_strdupf("%s/%s/lbox", home, fallback);
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

static unsigned long long du_total;
static int du_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode))
        du_total += (unsigned long long)st->st_size;
    return 0;
}

int lbox_du(const char *path, unsigned long long *bytes, struct lbox_error *err)
{
    du_total = 0;
    if (nftw(path, du_one, 32, FTW_PHYS) < 0)
        return lbox_err_errno(err, errno, "cannot walk %s", path);
    *bytes = du_total;
    return 0;
}
