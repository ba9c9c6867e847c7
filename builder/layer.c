/* Reproducible tar layers from a directory tree (see layer.h for the rules). */
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"

/* Lambda's sandbox user owns what the image puts under /tmp. */
#define TMP_UID 993
#define TMP_GID 990

struct path_list {
    char **v;
    size_t n, cap;
};

static void path_list_free(struct path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static void path_list_add(struct path_list *l, char *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = lbox_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = p;
}

/* Collects every path under root/rel (relative to root), without following symlinks. */
static int collect(const char *root, const char *rel, struct path_list *l, struct lbox_error *err)
{
    _cleanup_free_ char *full = rel ? lbox_path_join(root, rel) : lbox_xstrdup(root);
    DIR *d = opendir(full);
    if (!d)
        return lbox_err_errno(err, errno, "cannot read directory %s", full);
    struct dirent *de;
    int r = 0;
    errno = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *child = rel ? lbox_strdupf("%s/%s", rel, de->d_name) : lbox_xstrdup(de->d_name);
        path_list_add(l, child);
        bool isdir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            _cleanup_free_ char *cfull = lbox_path_join(root, child);
            isdir = lstat(cfull, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (isdir && (r = collect(root, child, l, err)) < 0)
            break;
        errno = 0;
    }
    if (r == 0 && errno != 0)
        r = lbox_err_errno(err, errno, "cannot read directory %s", full);
    closedir(d);
    return r;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b); /* bytewise: parents sort first */
}

static int archive_fail(struct archive *a, const char *what, const char *path,
                        struct lbox_error *err)
{
    int e = archive_errno(a);
    if (e == ENOSPC || e == EDQUOT)
        return lbox_err_errno(err, e, "cannot write %s while adding %s", what, path);
    return lbox_err(err, LBOX_E_IO, "cannot write %s while adding %s: %s", what, path,
                    archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

static int copy_body(struct archive *a, const char *full, const char *rel, int64_t size,
                     const char *what, struct lbox_error *err)
{
    _cleanup_close_ int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot open %s for the %s", full, what);
    char buf[64 * 1024];
    int64_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < (int64_t)sizeof buf ? (size_t)left : sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lbox_err_errno(err, errno, "cannot read %s", full);
        if (n == 0)
            return lbox_err(err, LBOX_E_IO, "%s shrank while being added to the %s; "
                            "nothing may change the tree during a build", full, what);
        if (archive_write_data(a, buf, (size_t)n) != n)
            return archive_fail(a, what, rel, err);
        left -= n;
    }
    return 0;
}

/* Fills an entry from lstat data with the reproducibility rules applied. */
static int make_entry(struct archive_entry *e, const char *root, const char *rel,
                      const struct stat *st, int64_t epoch, struct lbox_error *err)
{
    archive_entry_set_pathname(e, rel);
    archive_entry_set_perm(e, st->st_mode & 07777);
    bool in_tmp = !strncmp(rel, "tmp/", 4);
    archive_entry_set_uid(e, in_tmp ? TMP_UID : 0);
    archive_entry_set_gid(e, in_tmp ? TMP_GID : 0);
    archive_entry_set_mtime(e, epoch, 0);
    /* dev/ino/nlink only feed the link resolver; the restricted pax writer does not store them */
    archive_entry_set_dev(e, st->st_dev);
    archive_entry_set_ino64(e, st->st_ino);
    archive_entry_set_nlink(e, st->st_nlink);
    switch (st->st_mode & S_IFMT) {
    case S_IFREG:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, st->st_size);
        break;
    case S_IFDIR:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
    case S_IFLNK: {
        _cleanup_free_ char *full = lbox_path_join(root, rel);
        char target[PATH_MAX];
        ssize_t n = readlink(full, target, sizeof target - 1);
        if (n < 0)
            return lbox_err_errno(err, errno, "cannot read symlink %s", full);
        target[n] = '\0';
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, target);
        break;
    }
    case S_IFCHR:
    case S_IFBLK:
        archive_entry_set_filetype(e, S_ISCHR(st->st_mode) ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdevmajor(e, major(st->st_rdev));
        archive_entry_set_rdevminor(e, minor(st->st_rdev));
        break;
    case S_IFIFO:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    default:
        return lbox_err(err, LBOX_E_INVAL, "%s/%s is a socket or other special file that a tar "
                        "layer cannot hold; remove it from the tree", root, rel);
    }
    return 0;
}

static int write_one(struct archive *a, struct archive_entry_linkresolver *res, const char *root,
                     const char *rel, int64_t epoch, const char *what, struct lbox_error *err)
{
    _cleanup_free_ char *full = lbox_path_join(root, rel);
    struct stat st;
    if (lstat(full, &st) < 0)
        return lbox_err_errno(err, errno, "cannot stat %s", full);
    struct archive_entry *e = archive_entry_new(), *spare = NULL;
    int r = make_entry(e, root, rel, &st, epoch, err);
    if (r == 0) {
        /* tar strategy: the first path (in sorted order) carries the data, later ones link to it */
        archive_entry_linkify(res, &e, &spare);
        archive_entry_set_dev(e, 0);
        archive_entry_set_ino64(e, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK)
            r = archive_fail(a, what, rel, err);
        else if (archive_entry_size(e) > 0)
            r = copy_body(a, full, rel, archive_entry_size(e), what, err);
    }
    archive_entry_free(e);
    archive_entry_free(spare);
    return r;
}

/* Writes every entry of the tree into an archive whose format/filter the caller set up. */
static int write_tree(struct archive *a, const char *dir, int64_t epoch, const char *what,
                      struct lbox_error *err)
{
    struct path_list l = {0};
    int r = collect(dir, NULL, &l, err);
    if (r == 0)
        qsort(l.v, l.n, sizeof *l.v, cmp_path);
    struct archive_entry_linkresolver *res = archive_entry_linkresolver_new();
    archive_entry_linkresolver_set_strategy(res, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    for (size_t i = 0; r == 0 && i < l.n; i++)
        r = write_one(a, res, dir, l.v[i], epoch, what, err);
    archive_entry_linkresolver_free(res);
    path_list_free(&l);
    return r;
}

/* Output sink: a file descriptor, hashing what passes through. */
struct sink {
    int fd;
    struct lbox_hash *h;
    uint64_t size;
};

static la_ssize_t sink_write(struct archive *a, void *data, const void *buf, size_t len)
{
    struct sink *s = data;
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(s->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            archive_set_error(a, errno, "%s", strerror(errno));
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (s->h)
        lbox_hash_update(s->h, buf, len);
    s->size += len;
    return (la_ssize_t)len;
}

static struct archive *new_tar_writer(bool gzip)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY");
    if (gzip) {
        archive_write_add_filter_gzip(a);
        archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
        archive_write_set_filter_option(a, "gzip", "compression-level", LBOX_LAYER_GZIP_LEVEL);
    }
    /* No padding after the stream: zeros behind a gzip member upset strict readers. */
    archive_write_set_bytes_in_last_block(a, 1);
    return a;
}

/* Writes the tar of `dir` to fd; *hash_hex gets the sha256 of the bytes written (if non-NULL). */
static int write_tar_fd(const char *dir, int64_t epoch, int fd, bool gzip, const char *what,
                        char *hash_hex, uint64_t *size, struct lbox_error *err)
{
    struct sink s = {.fd = fd, .h = hash_hex ? lbox_hash_new("sha256") : NULL};
    struct archive *a = new_tar_writer(gzip);
    int r = 0;
    if (archive_write_open2(a, &s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK)
        r = archive_fail(a, what, dir, err);
    if (r == 0)
        r = write_tree(a, dir, epoch, what, err);
    if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
        r = archive_fail(a, what, dir, err);
    archive_write_free(a);
    if (r == 0 && fsync(fd) < 0)
        r = lbox_err_errno(err, errno, "cannot write the %s for %s", what, dir);
    if (s.h) {
        if (r == 0)
            lbox_hash_final_hex(s.h, hash_hex);
        else
            lbox_hash_free(s.h);
    }
    if (size)
        *size = s.size;
    return r;
}

/* sha256 of the decompressed content of a gzip file. */
static int gunzip_sha256(const char *path, char *hex, struct lbox_error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_raw(a);
    struct archive_entry *e;
    int r = 0;
    if (archive_read_open_filename(a, path, 128 * 1024) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        r = lbox_err(err, LBOX_E_IO, "cannot read back layer %s: %s", path,
                     archive_error_string(a));
    } else {
        struct lbox_hash *h = lbox_hash_new("sha256");
        char buf[64 * 1024];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
            lbox_hash_update(h, buf, (size_t)n);
        if (n < 0) {
            r = lbox_err(err, LBOX_E_IO, "cannot read back layer %s: %s", path,
                         archive_error_string(a));
            lbox_hash_free(h);
        } else {
            lbox_hash_final_hex(h, hex);
        }
    }
    archive_read_free(a);
    return r;
}

int lbox_layer_write_dir(struct lbox_store *st, const char *dir, int64_t epoch,
                         struct lbox_layer *out, struct lbox_error *err)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    if (lbox_store_blob_tmp(st, &tmp, &fd, err) < 0)
        return -1;
    char hex[129], diff_hex[129];
    uint64_t size = 0;
    int r = write_tar_fd(dir, epoch, fd, true, "layer", hex, &size, err);
    if (r == 0)
        r = gunzip_sha256(tmp, diff_hex, err);
    if (r == 0) {
        snprintf(out->digest, sizeof out->digest, "sha256:%.64s", hex);
        snprintf(out->diff_id, sizeof out->diff_id, "sha256:%.64s", diff_hex);
        out->size = size;
        r = lbox_store_blob_commit(st, tmp, out->digest, err);
    }
    if (r < 0) {
        unlink(tmp);
        /* Both places: a full disk is the store's, a vanished file the tree's. */
        return lbox_err_prefix(err, "cannot write the layer of %s into the image store %s", dir,
                               lbox_store_dir(st));
    }
    return 0;
}

int lbox_layer_write_tar_file(const char *dir, int64_t epoch, const char *out,
                              struct lbox_error *err)
{
    _cleanup_out_file_ struct lbox_out_file f;
    if (lbox_out_open(&f, out, 0644, err) < 0 ||
        write_tar_fd(dir, epoch, f.fd, false, "tarball", NULL, NULL, err) < 0)
        return -1;
    return lbox_out_commit(&f, err);
}
