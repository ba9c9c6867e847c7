/* Unpacking an image's layers into a root filesystem: safe extraction, whiteouts, digests. */
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
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "cache_temp.h"
#include "store.h"
#include "rootfs_base.h"
#include "extract.h"
#include "rootfs_cache.h"
#include "store_internal.h"

#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

/* The layer blob as libarchive reads it, hashed on the way through. */
struct src {
    int fd;
    struct lbox_hash *h;
    char buf[128 * 1024];
};

static la_ssize_t src_read(struct archive *a, void *data, const void **buf)
{
    struct src *s = data;
    ssize_t n;
    do
        n = read(s->fd, s->buf, sizeof s->buf);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        archive_set_error(a, errno, "%s", strerror(errno));
        return -1;
    }
    lbox_hash_update(s->h, s->buf, (size_t)n);
    *buf = s->buf;
    return n;
}

/* The paths one layer has written so far, for opaque whiteouts (which hide lower layers only). */
struct seen {
    char **v;
    size_t n, cap;
};

static void seen_add(struct seen *s, const char *p)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = lbox_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = lbox_xstrdup(p);
}

static bool seen_has(const struct seen *s, const char *p)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], p))
            return true;
    return false;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Layer path -> clean relative path ("./a//b" -> "a/b"); NULL for ".", absolute or "..". */
static char *clean_path(const char *p)
{
    if (!p || p[0] == '/')
        return NULL;
    char *out = lbox_xmalloc(strlen(p) + 1), *o = out;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && !memcmp(p, "..", 2)) {
            free(out);
            return NULL;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (o != out)
                *o++ = '/';
            memcpy(o, p, n);
            o += n;
        }
        p += n + (end ? 1 : 0);
    }
    *o = '\0';
    if (!*out) {
        free(out);
        return NULL;
    }
    return out;
}

/* True when every directory leading to rel (not rel itself) is a real directory under root:
 * never delete or replace through a symlink a lower layer planted. */
static bool parents_are_dirs(const char *root, const char *rel)
{
    _cleanup_free_ char *p = lbox_path_join(root, rel);
    size_t rl = strlen(root);
    for (char *s = p + rl + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        struct stat st;
        /* missing is fine: libarchive creates it as a directory */
        bool ok = lstat(p, &st) == 0 ? S_ISDIR(st.st_mode) : errno == ENOENT;
        *s = '/';
        if (!ok)
            return false;
    }
    return true;
}

static int opaque_dir(const char *root, const char *dir, const struct seen *seen,
                      struct lbox_error *err)
{
    _cleanup_free_ char *full = dir ? lbox_path_join(root, dir) : lbox_xstrdup(root);
    DIR *d = opendir(full);
    if (!d)
        return errno == ENOENT ? 0 : lbox_err_errno(err, errno, "cannot read %s", full);
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *rel = dir ? lbox_strdupf("%s/%s", dir, de->d_name)
                                       : lbox_xstrdup(de->d_name);
        if (!seen_has(seen, rel)) {
            _cleanup_free_ char *cf = lbox_path_join(root, rel);
            r = lbox_rm_rf(cf, err);
        }
    }
    closedir(d);
    return r;
}

/* Whiteouts delete from lower layers; returns 1 when the entry was one. */
static int bad_entry(const char *layer, const char *path, const char *why,
                     struct lbox_error *err);

static int apply_whiteout(const char *root, const char *rel, const char *layer,
                          const struct seen *seen, struct lbox_error *err)
{
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    if (strncmp(base, WHITEOUT, strlen(WHITEOUT)))
        return 0;
    /* ".wh.", ".wh.." and ".wh..." name the directory itself or its parent: they hide no
     * entry, no image tool writes them, and removing what they name wipes far more than one
     * entry (".wh..." in var/task removed all of /var). */
    const char *name = base + strlen(WHITEOUT);
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return bad_entry(layer, rel, "is a whiteout of its own directory or of its parent",
                         err);
    if (!parents_are_dirs(root, rel))
        return 1; /* the directory is gone or replaced: nothing to hide */
    _cleanup_free_ char *dir = slash ? strndup(rel, (size_t)(slash - rel)) : NULL;
    if (!strcmp(base, OPAQUE))
        return opaque_dir(root, dir, seen, err) < 0 ? -1 : 1;
    _cleanup_free_ char *victim = slash ? lbox_strdupf("%s/%s", dir, base + strlen(WHITEOUT))
                                        : lbox_xstrdup(base + strlen(WHITEOUT));
    _cleanup_free_ char *full = lbox_path_join(root, victim);
    return lbox_rm_rf(full, err) < 0 ? -1 : 1;
}

/* A directory replacing a file or a file replacing a directory: clear the old one first. */
static int clear_conflict(const char *full, bool new_is_dir, struct lbox_error *err)
{
    struct stat st;
    if (lstat(full, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode) && !new_is_dir)
        return lbox_rm_rf(full, err);
    if (!S_ISDIR(st.st_mode) && new_is_dir && unlink(full) < 0)
        return lbox_err_errno(err, errno, "cannot replace %s", full);
    return 0;
}

static int bad_entry(const char *layer, const char *path, const char *why,
                     struct lbox_error *err)
{
    return lbox_err(err, LBOX_E_ARCHIVE, "layer %s: entry '%s' %s; the image is unsafe to "
                    "unpack", layer, path ? path : "(null)", why);
}

static int copy_data(struct archive *in, struct archive *out, const char *layer,
                     const char *path, struct lbox_error *err)
{
    const void *buf;
    size_t n;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(in, &buf, &n, &off)) == ARCHIVE_OK)
        if (lbox_archive_write_failed(out, archive_write_data_block(out, buf, n, off), true))
            return archive_errno(out) > 0
                       ? lbox_err_errno(err, archive_errno(out), "cannot write %s from layer %s",
                                        path, layer)
                       : lbox_err(err, LBOX_E_IO, "cannot write %s from layer %s: %s", path,
                                  layer, archive_error_string(out));
    if (r != ARCHIVE_EOF)
        return lbox_err(err, LBOX_E_ARCHIVE, "layer %s is corrupt at %s: %s", layer, path,
                        archive_error_string(in));
    return 0;
}

/* Gives the file `full` an inode of its own when other trees share it (over a hard-link copy,
 * tree_link.h): for a tar hard-link entry with data, which libarchive writes through the
 * link into the target. */
static int unshare(const char *full, struct lbox_error *err)
{
    struct stat st;
    if (lstat(full, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink < 2)
        return 0;
    return lbox_copy_file(full, full, err); /* a new inode, renamed over the shared one */
}

static int extract_entry(struct archive *in, struct archive *out, struct archive_entry *e,
                         const char *root, const char *layer, struct seen *seen,
                         bool over_links, struct lbox_error *err)
{
    /* a copy: rewriting the entry's pathname below frees libarchive's string */
    const char *name = archive_entry_pathname(e);
    _cleanup_free_ char *orig = lbox_xstrdup(name ? name : "(no name)");
    _cleanup_free_ char *rel = clean_path(name);
    if (!rel) {
        if (name && orig[0] != '/' && !strstr(orig, ".."))
            return 0; /* "./": the root itself */
        return bad_entry(layer, orig, "is absolute or contains '..'", err);
    }
    int w = apply_whiteout(root, rel, layer, seen, err);
    if (w != 0)
        return w < 0 ? -1 : 0;
    if (!parents_are_dirs(root, rel))
        return bad_entry(layer, orig, "lies under a symlink or a file", err);
    bool root_user = geteuid() == 0;
    mode_t type = archive_entry_filetype(e);
    if (!root_user && (type == AE_IFCHR || type == AE_IFBLK))
        return 0; /* cannot mknod without privilege; the sandbox brings its own /dev */
    _cleanup_free_ char *full = lbox_path_join(root, rel);
    if (clear_conflict(full, type == AE_IFDIR, err) < 0)
        return -1;
    if (!root_user && type == AE_IFDIR)
        archive_entry_set_perm(e, archive_entry_perm(e) | 0700);
    else if (!root_user && type == AE_IFREG)
        archive_entry_set_perm(e, archive_entry_perm(e) | 0400);
    archive_entry_set_pathname(e, full);
    const char *link = archive_entry_hardlink(e);
    if (link) {
        _cleanup_free_ char *lrel = clean_path(link);
        if (!lrel || !parents_are_dirs(root, lrel))
            return bad_entry(layer, orig, "is a hardlink to outside the layer", err);
        _cleanup_free_ char *lfull = lbox_path_join(root, lrel);
        if (over_links && archive_entry_size(e) > 0 && unshare(lfull, err) < 0)
            return -1;
        archive_entry_set_hardlink(e, lfull);
    }
    seen_add(seen, rel);
    if (lbox_archive_write_failed(out, archive_write_header(out, e), false))
        return lbox_err(err, archive_errno(out) == ENOSPC ? LBOX_E_NOSPC : LBOX_E_ARCHIVE,
                        "cannot unpack %s from layer %s: %s", orig, layer,
                        archive_error_string(out));
    if (archive_entry_size(e) > 0 && copy_data(in, out, layer, orig, err) < 0)
        return -1;
    if (lbox_archive_write_failed(out, archive_write_finish_entry(out), false))
        return lbox_err(err, archive_errno(out) == ENOSPC || archive_errno(out) == EDQUOT
                                 ? LBOX_E_NOSPC : LBOX_E_IO,
                        "cannot finish %s from layer %s: %s", orig, layer,
                        archive_error_string(out));
    return 0;
}

int lbox_store_extract_layer(struct lbox_store *st, const char *digest, const char *root,
                             bool over_links, struct lbox_error *err)
{
    _cleanup_free_ char *path = lbox_store_blob_path(st, digest);
    struct src *s = lbox_xcalloc(1, sizeof *s);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        free(s);
        return lbox_err_errno(err, errno, "cannot open layer %s (remove the image with "
                              "`lbox rm` and build it again)", path);
    }
    s->h = lbox_hash_new("sha256");
    struct archive *in = archive_read_new(), *out = archive_write_disk_new();
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_zstd(in);
    archive_read_support_format_tar(in);
    int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_UNLINK |
                ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    if (geteuid() == 0)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(out, flags); /* numeric ids: never the host's user names */
    struct seen seen = {0};
    int r = 0;
    if (archive_read_open(in, s, NULL, src_read, NULL) != ARCHIVE_OK)
        r = lbox_err(err, LBOX_E_ARCHIVE, "layer %s is not a tar: %s", digest,
                     archive_error_string(in));
    struct archive_entry *e;
    while (r == 0) {
        int h = archive_read_next_header(in, &e);
        if (h == ARCHIVE_EOF)
            break;
        if (h < ARCHIVE_WARN)
            r = lbox_err(err, LBOX_E_ARCHIVE, "layer %s is corrupt: %s", digest,
                         archive_error_string(in));
        else
            r = extract_entry(in, out, e, root, digest, &seen, over_links, err);
    }
    if (r == 0 && lbox_archive_write_failed(out, archive_write_close(out), false))
        r = lbox_err(err, LBOX_E_IO, "cannot finish unpacking layer %s: %s", digest,
                     archive_error_string(out));
    /* Hash whatever libarchive left unread, then compare; after a failure too: damage
     * libarchive trips on first (a garbled header reads as an unsafe name, or no tar) is
     * still damage, and the blob must go, or every later build would reuse it. */
    ssize_t n;
    while ((n = read(s->fd, s->buf, sizeof s->buf)) > 0)
        lbox_hash_update(s->h, s->buf, (size_t)n);
    char hex[129];
    lbox_hash_final_hex(s->h, hex);
    if (n == 0 && strcmp(hex, digest + 7))
        r = lbox_err(err, LBOX_E_DIGEST, "layer %s in the store is corrupt (content hashes to "
                     "sha256:%s); %s", path, hex, lbox_store_drop_corrupt_blob(st, digest, s->fd));
    archive_read_free(in);
    archive_write_free(out);
    seen_free(&seen);
    close(s->fd);
    free(s);
    return r;
}

int lbox_store_unpack(struct lbox_store *st, const char *manifest_digest, const char *dest,
                      struct lbox_error *err)
{
    char root[PATH_MAX];
    if (!realpath(dest, root))
        return lbox_err_errno(err, errno, "cannot unpack into %s", dest);
    json_t *m = lbox_store_load_manifest(st, manifest_digest, err);
    if (!m)
        return -1;
    int r = 0;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(m, "layers"), i, l) {
        const char *d = json_string_value(json_object_get(l, "digest"));
        if ((r = lbox_store_extract_layer(st, d, root, false, err)) < 0)
            break;
    }
    json_decref(m);
    return r;
}

/* The image's rootfs into `tmp`, a fresh folder of the cache: linked from its base when it
 * has one (rootfs_base.c), else every layer unpacked. */
static int unpack_image(struct lbox_store *st, const char *digest, const char *tmp,
                        struct lbox_error *err)
{
    json_t *m = lbox_store_load_manifest(st, digest, err);
    if (!m)
        return -1;
    int r = lbox_rootfs_base_unpack(st, m, tmp, err);
    json_decref(m);
    if (r == 1) { /* no base served: start again from an empty folder */
        struct seen none = {0};
        r = opaque_dir(tmp, NULL, &none, err);
        if (r == 0)
            r = lbox_store_unpack(st, digest, tmp, err);
    }
    return r;
}

/* Unpacks the image into the cache unless it is there (*unpacked says which); *final = the
 * cache directory. */
static int unpack_cached(struct lbox_store *st, const char *ref, const char *digest,
                         char **final, bool *unpacked, struct lbox_error *err)
{
    *unpacked = false;
    _cleanup_free_ char *parent = lbox_rootfs_cache_dir();
    if (lbox_mkdir_p(parent, 0755, err) < 0)
        return -1;
    *final = lbox_path_join(parent, digest + 7);
    struct stat sb;
    if (stat(*final, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 0;
    /* An invoke interrupted while unpacking left a few hundred MB: take them back first. */
    lbox_rootfs_sweep();
    _cleanup_free_ char *tmp = lbox_strdupf("%s/.tmp-%.12s-XXXXXX", parent, digest + 7);
    /* Locked while it is filled, so that sweeps tell it from a killed unpack's leftover. */
    _cleanup_close_ int lock = -1;
    if (lbox_cache_temp(tmp, true, &lock, err) < 0)
        return lbox_err_prefix(err, "cannot unpack image %s (make %s writable, or set "
                               "XDG_CACHE_HOME to another folder)", ref, parent);
    int r = unpack_image(st, digest, tmp, err);
    if (r == 0 && chmod(tmp, 0755) < 0)
        r = lbox_err_errno(err, errno, "cannot chmod %s", tmp);
    if (r == 0 && rename(tmp, *final) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) /* another lbox finished it first */
            lbox_rm_rf(tmp, NULL);
        else
            r = lbox_err_errno(err, errno, "cannot rename %s to %s", tmp, *final);
    }
    if (r < 0) {
        lbox_rm_rf(tmp, NULL);
        return lbox_err_prefix(err, "cannot unpack image %s", ref);
    }
    *unpacked = true;
    return 0;
}

/* Whether the store's index still names the manifest `digest`. */
static bool still_named(struct lbox_store *st, const char *digest)
{
    json_t *idx = lbox_store_index_load(st, NULL);
    if (!idx)
        return true; /* unreadable: keep the rootfs rather than evict what it may name */
    bool named = false;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(idx, "manifests"), i, d) {
        const char *dg = json_string_value(json_object_get(d, "digest"));
        named = named || (dg && !strcmp(dg, digest));
    }
    json_decref(idx);
    return named;
}

int lbox_store_rootfs(struct lbox_store *st, const char *ref, char **rootfs_dir,
                      struct lbox_error *err)
{
    char digest[72];
    *rootfs_dir = NULL;
    if (lbox_store_resolve(st, ref, digest, err) < 0)
        return -1;
    /* Held until lbox_store_close, so no eviction deletes it while it runs; an eviction
     * that won the race means unpacking again (twice at most: the image is still ours). */
    for (int attempt = 0; attempt < 3; attempt++) {
        char *final = NULL;
        bool unpacked;
        int fd, held = unpack_cached(st, ref, digest, &final, &unpacked, err);
        if (held == 0)
            held = lbox_rootfs_hold(final, &fd, err);
        if (held == 0) {
            /* An lbox rm or a rebuild that untagged the image while we unpacked it found
             * no rootfs to evict: we evict it ourselves once done (lbox_store_close). Read
             * after the rootfs is in place, so that an untagging after this reading finds
             * it, held, and marks it itself. (A rootfs that was there already was
             * evicted or marked by the untagging itself.) */
            if (unpacked && !still_named(st, digest))
                lbox_rootfs_mark(final);
            lbox_store_keep_rootfs(st, fd, final);
            *rootfs_dir = final;
            return 0;
        }
        free(final);
        if (held < 0)
            return -1;
    }
    return lbox_err(err, LBOX_E_BUSY, "the unpacked image %s kept being evicted while "
                    "lbox was starting it; is another lbox removing it? Try again", ref);
}
