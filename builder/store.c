/* The local image store: blobs, index.json and its locks (see store.h). */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "rootfs_base.h"
#include "rootfs_cache.h"
#include "store_internal.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define ANN_REF "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD "io.containerd.image.name"
#define JSON_BLOB_LIMIT (4u << 20)

struct lbox_store {
    char *dir, *blobs, *index, *index_lock, *gc_lock;
    int gc_fd;      /* open gc.lock, -1 until held */
    int gc_held;    /* LOCK_SH held */
    unsigned lock_timeout_ms;
    struct held_rootfs {
        int fd;
        char *dir;
    } *held;        /* rootfs directories locked while in use (rootfs_cache.c) */
    size_t nheld;
    char (*resolved)[72]; /* manifest digests this handle found in the index */
    size_t nresolved;
};

/* A store this user cannot write (permissions, a read-only mount): the message says where
 * it is and what to do. Returns -1. */
static int hint_unwritable(const struct lbox_store *st, struct lbox_error *err)
{
    if (err && (access(st->dir, W_OK) < 0 || access(st->blobs, W_OK) < 0)) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, " (make the image store %s writable, or "
                 "set XDG_DATA_HOME to use another)", st->dir);
    }
    return -1;
}

/* ---- locks ---- */

static int open_lock(const struct lbox_store *st, const char *path, struct lbox_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        lbox_err_errno(err, errno, "cannot open lock file %s", path);
        hint_unwritable(st, err);
    }
    return fd;
}

/* Exclusive lock on index.lock, waiting at most lock_timeout_ms. Returns the fd. */
static int index_lock(struct lbox_store *st, struct lbox_error *err)
{
    int fd = open_lock(st, st->index_lock, err);
    if (fd < 0)
        return -1;
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (unsigned waited = 0;; waited += 20) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            lbox_err_errno(err, errno, "cannot lock %s", st->index_lock);
            break;
        }
        if (waited >= st->lock_timeout_ms) {
            lbox_err(err, LBOX_E_BUSY, "another lbox is writing the image store %s (it holds "
                     "%s); waited %u ms: let it finish and try again", st->dir, st->index_lock,
                     st->lock_timeout_ms);
            break;
        }
        nanosleep(&nap, NULL);
    }
    close(fd);
    return -1;
}

static void index_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing drops the flock */
}

int lbox_store_hold(struct lbox_store *st, struct lbox_error *err)
{
    if (st->gc_held)
        return 0;
    if (st->gc_fd < 0 && (st->gc_fd = open_lock(st, st->gc_lock, err)) < 0)
        return -1;
    /* Waits only while a garbage collection runs, which is short; one that stopped (a
     * suspended lbox rm) must not hang every other lbox without a word. */
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (unsigned waited = 0; flock(st->gc_fd, LOCK_SH | LOCK_NB) < 0; waited += 20) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return lbox_err_errno(err, errno, "cannot lock %s", st->gc_lock);
        if (waited >= st->lock_timeout_ms)
            return lbox_err(err, LBOX_E_BUSY, "another lbox is collecting unused blobs in the "
                            "image store %s (it holds %s); waited %u ms: let it finish (is an "
                            "lbox rm or build stopped?) and try again", st->dir, st->gc_lock,
                            st->lock_timeout_ms);
        nanosleep(&nap, NULL);
    }
    st->gc_held = 1;
    return 0;
}

void lbox_store_release(struct lbox_store *st)
{
    if (st->gc_held && st->gc_fd >= 0)
        flock(st->gc_fd, LOCK_UN);
    st->gc_held = 0;
}

void lbox_store_set_lock_timeout(struct lbox_store *st, unsigned ms) { st->lock_timeout_ms = ms; }

/* ---- index.json ---- */

static json_t *index_new(void)
{
    return json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", MT_INDEX, "manifests");
}

static json_t *index_load(struct lbox_store *st, struct lbox_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len;
    if (access(st->index, F_OK) < 0 && errno == ENOENT)
        return index_new();
    if (lbox_read_file(st->index, 64u << 20, &data, &len, err) < 0)
        return NULL;
    json_error_t je;
    json_t *idx = json_loadb(data, len, 0, &je);
    if (!idx || !json_is_array(json_object_get(idx, "manifests"))) {
        /* The whole store, not index.json alone: an empty index beside the old blobs would
         * let the next collection delete them all, and the old index could not come back. */
        lbox_err(err, LBOX_E_IO, "%s is not a valid OCI index (%s); repair it, or move the "
                 "store folder %s away to start an empty one", st->index,
                 idx ? "no manifests array" : je.text, st->dir);
        json_decref(idx);
        return NULL;
    }
    return idx;
}

static int cmp_desc(const void *a, const void *b)
{
    const char *ra = lbox_desc_ref(*(json_t *const *)a), *rb = lbox_desc_ref(*(json_t *const *)b);
    return strcmp(ra ? ra : "", rb ? rb : "");
}

static int index_save(struct lbox_store *st, json_t *idx, struct lbox_error *err)
{
    json_t *m = json_object_get(idx, "manifests");
    size_t n = json_array_size(m);
    json_t **v = lbox_xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(m, i));
    qsort(v, n, sizeof *v, cmp_desc); /* stable file content for the same set of tags */
    json_array_clear(m);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(m, v[i]);
    free(v);
    _cleanup_free_ char *s = json_dumps(idx, JSON_SORT_KEYS | JSON_INDENT(2));
    if (!s)
        return lbox_err(err, LBOX_E_IO, "cannot serialise %s", st->index);
    size_t len = strlen(s);
    _cleanup_free_ char *withnl = lbox_strdupf("%s\n", s);
    if (lbox_write_file_atomic(st->index, withnl, len + 1, 0644, err) < 0)
        return hint_unwritable(st, err);
    return 0;
}

const char *lbox_desc_ref(const json_t *desc)
{
    return json_string_value(json_object_get(json_object_get(desc, "annotations"), ANN_REF));
}

json_t *lbox_store_index_load(struct lbox_store *st, struct lbox_error *err)
{
    return index_load(st, err);
}

/* ---- open / close ---- */

int lbox_store_open(const char *dir, struct lbox_store **out, struct lbox_error *err)
{
    struct lbox_store *st = lbox_xcalloc(1, sizeof *st);
    if (dir) {
        st->dir = lbox_xstrdup(dir);
    } else {
        _cleanup_free_ char *data = lbox_data_dir();
        st->dir = lbox_path_join(data, "store");
    }
    st->blobs = lbox_path_join(st->dir, "blobs/sha256");
    st->index = lbox_path_join(st->dir, "index.json");
    st->index_lock = lbox_path_join(st->dir, "index.lock");
    st->gc_lock = lbox_path_join(st->dir, "gc.lock");
    st->gc_fd = -1;
    st->lock_timeout_ms = 30000;
    _cleanup_free_ char *layout = lbox_path_join(st->dir, "oci-layout");
    static const char layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
    int r = lbox_mkdir_p(st->blobs, 0755, err);
    if (r == 0 && access(layout, F_OK) < 0)
        r = lbox_write_file_atomic(layout, layout_json, sizeof layout_json - 1, 0644, err);
    if (r == 0 && access(st->index, F_OK) < 0) {
        int fd = index_lock(st, err);
        r = fd < 0 ? -1 : 0;
        if (r == 0 && access(st->index, F_OK) < 0) {
            json_t *idx = index_new();
            r = index_save(st, idx, err);
            json_decref(idx);
        }
        index_unlock(fd);
    }
    if (r < 0) {
        lbox_store_close(st);
        return lbox_err_prefix(err, "cannot open the image store (set XDG_DATA_HOME to move it)");
    }
    *out = st;
    return 0;
}

static void evict_marked(struct lbox_store *st);
static const char *digest_hex(const char *digest);

void lbox_store_close(struct lbox_store *st)
{
    if (!st)
        return;
    bool marked = false;
    for (size_t i = 0; i < st->nheld; i++) {
        marked |= lbox_rootfs_release(st->held[i].dir, st->held[i].fd);
        free(st->held[i].dir);
    }
    free(st->held);
    free(st->resolved);
    if (marked) /* an lbox rm or a rebuild wanted it gone while it ran */
        evict_marked(st);
    if (st->gc_fd >= 0)
        close(st->gc_fd);
    free(st->dir);
    free(st->blobs);
    free(st->index);
    free(st->index_lock);
    free(st->gc_lock);
    free(st);
}

const char *lbox_store_dir(const struct lbox_store *st) { return st->dir; }

void lbox_store_keep_rootfs(struct lbox_store *st, int fd, const char *dir)
{
    st->held = lbox_xrealloc(st->held, (st->nheld + 1) * sizeof *st->held);
    st->held[st->nheld++] = (struct held_rootfs){.fd = fd, .dir = lbox_xstrdup(dir)};
}

/* The manifest digests the index names (malloc'd array of pointers into idx). */
static const char **referenced(json_t *idx, size_t *n)
{
    json_t *m = json_object_get(idx, "manifests"), *d;
    const char **out = lbox_xrealloc(NULL, (json_array_size(m) + 1) * sizeof *out);
    size_t i;
    *n = 0;
    json_array_foreach(m, i, d) {
        const char *dg = json_string_value(json_object_get(d, "digest"));
        if (dg)
            out[(*n)++] = dg;
    }
    return out;
}

static void free_keys(char **keys)
{
    for (size_t i = 0; keys && keys[i]; i++)
        free(keys[i]);
    free(keys);
}

/* The base keys (rootfs_base.h) of the images `kept` names, *n of them, malloc'd; NULL when
 * a manifest cannot be read: then no base can be known unused. */
static char **base_keys(struct lbox_store *st, const char **kept, size_t nkept, size_t *n)
{
    char **keys = lbox_xcalloc(nkept + 1, sizeof *keys);
    *n = 0;
    for (size_t i = 0; i < nkept; i++) {
        json_t *m = lbox_store_load_manifest(st, kept[i], NULL);
        char key[65];
        if (!m) {
            free_keys(keys);
            return NULL;
        }
        if (lbox_rootfs_base_key(m, key) == 0)
            keys[(*n)++] = lbox_xstrdup(key);
        json_decref(m);
    }
    return keys;
}

/* Evicts the unpacked rootfs of `gone` (NULL: none) and the bases no kept image names. */
static void evict(struct lbox_store *st, const char **gone, size_t ngone, const char **kept,
                  size_t nkept)
{
    size_t nbases;
    char **bases = base_keys(st, kept, nkept, &nbases);
    lbox_rootfs_evict(gone, ngone, kept, nkept, (const char *const *)bases, nbases);
    free_keys(bases);
}

/* The digests of `removed` descriptors that no descriptor of `idx` still names: their
 * unpacked rootfs can go (lbox_rootfs_evict). */
static void evict_unreferenced(struct lbox_store *st, json_t *idx, json_t *removed)
{
    const char *gone[64];
    size_t ngone = 0, nkept, i, j;
    _cleanup_free_ const char **kept = referenced(idx, &nkept);
    json_t *r;
    json_array_foreach(removed, i, r) {
        const char *dg = json_string_value(json_object_get(r, "digest"));
        bool used = false;
        for (j = 0; j < nkept; j++)
            used = used || (dg && !strcmp(kept[j], dg));
        if (dg && !used && ngone < sizeof gone / sizeof gone[0])
            gone[ngone++] = dg;
    }
    evict(st, gone, ngone, kept, nkept);
}

/* Marks, before the index drops them, the unpacked rootfs of the `removed` descriptors: an
 * lbox killed between saving the index and evicting (evict_unreferenced) would otherwise
 * leave a rootfs nothing names and no pass takes. The next eviction pass takes a mark
 * unless the index still names its digest (a failed save, another tag). */
static void mark_for_eviction(json_t *removed)
{
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    size_t i;
    json_t *r;
    json_array_foreach(removed, i, r) {
        const char *dg = json_string_value(json_object_get(r, "digest"));
        const char *hex = dg ? digest_hex(dg) : NULL;
        if (!hex)
            continue;
        _cleanup_free_ char *dir = lbox_path_join(cache, hex);
        if (access(dir, F_OK) == 0)
            lbox_rootfs_mark(dir);
    }
}

/* Runs the eviction a holder deferred; the index says which marks still stand. */
static void evict_marked(struct lbox_store *st)
{
    json_t *idx = index_load(st, NULL);
    if (!idx)
        return; /* unreadable: keep everything rather than evict what it may name */
    size_t nkept;
    _cleanup_free_ const char **kept = referenced(idx, &nkept);
    evict(st, NULL, 0, kept, nkept);
    json_decref(idx);
}

/* ---- blobs ---- */

static const char *digest_hex(const char *digest)
{
    if (strncmp(digest, "sha256:", 7) || strlen(digest) != 71)
        return NULL;
    for (const char *p = digest + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return NULL;
    return digest + 7;
}

char *lbox_store_blob_path(const struct lbox_store *st, const char *digest)
{
    const char *hex = digest_hex(digest);
    return lbox_path_join(st->blobs, hex ? hex : "invalid-digest");
}

bool lbox_store_has_blob(const struct lbox_store *st, const char *digest)
{
    if (!digest_hex(digest))
        return false;
    _cleanup_free_ char *p = lbox_store_blob_path(st, digest);
    return access(p, F_OK) == 0;
}

int lbox_store_blob_tmp(struct lbox_store *st, char **tmp_path, int *fd, struct lbox_error *err)
{
    if (lbox_store_hold(st, err) < 0)
        return -1;
    char *p = lbox_path_join(st->blobs, ".tmp-XXXXXX");
    int f = mkostemp(p, O_CLOEXEC);
    if (f < 0) {
        lbox_err_errno(err, errno, "cannot create a temporary blob in %s", st->blobs);
        hint_unwritable(st, err);
        free(p);
        return -1;
    }
    fchmod(f, 0644);
    *tmp_path = p;
    *fd = f;
    return 0;
}

int lbox_store_blob_commit(struct lbox_store *st, const char *tmp_path, const char *digest,
                           struct lbox_error *err)
{
    if (!digest_hex(digest))
        return lbox_err(err, LBOX_E_INVAL, "'%s' is not a sha256 digest", digest);
    _cleanup_free_ char *dst = lbox_store_blob_path(st, digest);
    if (rename(tmp_path, dst) < 0)
        return lbox_err_errno(err, errno, "cannot move %s to %s", tmp_path, dst);
    return 0;
}

/* Copies src into fd while hashing it. */
static int copy_hashing(const struct lbox_store *st, const char *src, int fd, char *hex,
                        struct lbox_error *err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return lbox_err_errno(err, errno, "cannot open %s", src);
    struct lbox_hash *h = lbox_hash_new("sha256");
    char buf[64 * 1024];
    ssize_t n;
    int r = 0;
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = lbox_err_errno(err, errno, "cannot read %s", src);
            break;
        }
        lbox_hash_update(h, buf, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                r = lbox_err_errno(err, errno, "cannot write a blob into the image store %s "
                                   "(XDG_DATA_HOME moves it)", st->dir);
                break;
            }
            off += w;
        }
        if (r < 0)
            break;
    }
    if (r == 0 && fsync(fd) < 0)
        r = lbox_err_errno(err, errno, "cannot write a blob into the image store %s "
                           "(XDG_DATA_HOME moves it)", st->dir);
    if (r == 0)
        lbox_hash_final_hex(h, hex);
    else
        lbox_hash_free(h);
    return r;
}

int lbox_store_put_blob_file(struct lbox_store *st, const char *path, const char *digest,
                             bool move, struct lbox_error *err)
{
    if (!digest_hex(digest))
        return lbox_err(err, LBOX_E_INVAL, "'%s' is not a sha256 digest", digest);
    if (lbox_store_hold(st, err) < 0)
        return -1;
    char hex[129];
    if (move) {
        if (lbox_sha256_file(path, hex, err) < 0)
            return -1;
        if (strcmp(hex, digest + 7))
            return lbox_err(err, LBOX_E_DIGEST, "%s has digest sha256:%s, not %s; not stored",
                            path, hex, digest);
        if (lbox_store_blob_commit(st, path, digest, err) == 0)
            return 0;
        if (err->code != LBOX_E_IO)
            return -1; /* e.g. disk full: copying will not help */
    }
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    if (lbox_store_blob_tmp(st, &tmp, &fd, err) < 0)
        return -1;
    int r = copy_hashing(st, path, fd, hex, err);
    if (r == 0 && strcmp(hex, digest + 7))
        r = lbox_err(err, LBOX_E_DIGEST, "%s has digest sha256:%s, not %s; not stored", path,
                     hex, digest);
    if (r == 0)
        r = lbox_store_blob_commit(st, tmp, digest, err);
    if (r < 0)
        unlink(tmp);
    else if (move)
        unlink(path);
    return r;
}

int lbox_store_put_blob(struct lbox_store *st, const void *data, size_t len, char *digest_out,
                        struct lbox_error *err)
{
    char hex[65];
    lbox_sha256_hex(data, len, hex);
    snprintf(digest_out, 72, "sha256:%s", hex);
    if (lbox_store_hold(st, err) < 0)
        return -1;
    if (lbox_store_has_blob(st, digest_out))
        return 0;
    _cleanup_free_ char *p = lbox_store_blob_path(st, digest_out);
    return lbox_write_file_atomic(p, data, len, 0644, err);
}

const char *lbox_store_drop_corrupt_blob(struct lbox_store *st, const char *digest, int fd)
{
    _cleanup_free_ char *p = lbox_store_blob_path(st, digest);
    struct stat now, seen;
    if (stat(p, &now) < 0)
        return "build the image again";
    if (fd >= 0 && (fstat(fd, &seen) < 0 || seen.st_dev != now.st_dev ||
                    seen.st_ino != now.st_ino))
        return "build the image again";
    return unlink(p) == 0 ? "it is removed from the store: build the image again"
                          : "remove the image with `lbox rm` and build it again";
}

int lbox_store_read_blob(struct lbox_store *st, const char *digest, size_t limit, char **data,
                         size_t *len, struct lbox_error *err)
{
    if (!digest_hex(digest))
        return lbox_err(err, LBOX_E_INVAL, "'%s' is not a sha256 digest", digest);
    _cleanup_free_ char *p = lbox_store_blob_path(st, digest);
    if (access(p, F_OK) < 0)
        return lbox_err(err, LBOX_E_NOTFOUND, "blob %s is missing from the store %s; remove the "
                        "image with `lbox rm` and build it again", digest, st->dir);
    if (lbox_read_file(p, limit, data, len, err) < 0)
        return -1;
    char hex[65];
    lbox_sha256_hex(*data, *len, hex);
    if (strcmp(hex, digest + 7)) {
        free(*data);
        *data = NULL;
        return lbox_err(err, LBOX_E_DIGEST, "blob %s in the store is corrupt (its content hashes "
                        "to sha256:%s); %s",
                        p, hex, lbox_store_drop_corrupt_blob(st, digest, -1));
    }
    return 0;
}

/* ---- tags ---- */

int lbox_store_tag(struct lbox_store *st, const char *ref, const char *manifest_digest,
                   uint64_t manifest_size, struct lbox_error *err)
{
    _cleanup_free_ char *norm = lbox_ref_normalize(ref, err);
    if (!norm)
        return -1;
    if (lbox_store_hold(st, err) < 0)
        return -1;
    if (!lbox_store_has_blob(st, manifest_digest))
        return lbox_err(err, LBOX_E_NOTFOUND, "cannot tag %s: manifest %s is not in the store",
                        norm, manifest_digest);
    _cleanup_free_ char *qualified = lbox_ref_qualified(norm);
    int lock = index_lock(st, err);
    if (lock < 0)
        return lbox_err_prefix(err, "cannot tag %s", norm);
    int r = -1;
    json_t *idx = index_load(st, err);
    json_t *replaced = json_array();
    if (idx) {
        json_t *m = json_object_get(idx, "manifests");
        for (size_t i = json_array_size(m); i-- > 0;) {
            const char *r0 = lbox_desc_ref(json_array_get(m, i));
            if (r0 && !strcmp(r0, norm)) {
                json_array_append(replaced, json_array_get(m, i));
                json_array_remove(m, i);
            }
        }
        json_array_append_new(m, json_pack("{s:s, s:s, s:I, s:{s:s, s:s}}", "mediaType",
                                           MT_MANIFEST, "digest", manifest_digest, "size",
                                           (json_int_t)manifest_size, "annotations", ANN_REF,
                                           norm, ANN_CONTAINERD, qualified));
        mark_for_eviction(replaced);
        r = index_save(st, idx, err);
    }
    index_unlock(lock);
    if (r == 0) /* the tag's previous image, when nothing else names it */
        evict_unreferenced(st, idx, replaced);
    json_decref(replaced);
    json_decref(idx);
    return r < 0 ? lbox_err_prefix(err, "cannot tag %s", norm) : 0;
}

/* hex digits (after an optional "sha256:"), at least 4; NULL if not a digest prefix */
static const char *digest_prefix(const char *s)
{
    if (!strncmp(s, "sha256:", 7))
        s += 7;
    size_t n = strlen(s);
    if (n < 4 || n > 64)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return NULL;
    return s;
}

/* Whether descriptor `d` is the tag `ref` (normalised: `norm`, NULL when it is none). lbox
 * writes "name:tag"; other OCI tools often write the bare name they were given ("weird",
 * as skopeo's oci:DIR:weird does), which is matched as it is. */
static bool is_tag(const json_t *d, const char *norm, const char *ref, bool verbatim)
{
    const char *r = lbox_desc_ref(d);
    return r && (verbatim ? !strcmp(r, ref) : norm && !strcmp(r, norm));
}

/* Finds the manifest digest for a tag (as lbox writes it, else as given), else for a unique
 * digest prefix. *verbatim says which form of the tag matched. */
static int resolve_in(json_t *idx, const char *ref, char *out, bool *by_tag, bool *verbatim,
                      struct lbox_error *err)
{
    json_t *m = json_object_get(idx, "manifests");
    _cleanup_free_ char *norm = lbox_ref_normalize(ref, NULL);
    size_t i;
    json_t *d;
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(m, i, d) {
            if (is_tag(d, norm, ref, pass == 1)) {
                snprintf(out, 72, "%s", json_string_value(json_object_get(d, "digest")));
                *by_tag = true;
                *verbatim = pass == 1;
                return 0;
            }
        }
    }
    const char *prefix = digest_prefix(ref);
    const char *found = NULL;
    if (prefix) {
        json_array_foreach(m, i, d) {
            const char *dg = json_string_value(json_object_get(d, "digest"));
            if (!dg || strncmp(dg, "sha256:", 7) || strncmp(dg + 7, prefix, strlen(prefix)))
                continue;
            if (found && strcmp(found, dg))
                return lbox_err(err, LBOX_E_INVAL, "'%s' matches more than one image; give "
                                "more digits (see `lbox images`)", ref);
            found = dg;
        }
    }
    if (!found)
        return lbox_err(err, LBOX_E_NOTFOUND, "no image '%s' in the local store (`lbox images` "
                        "lists them; `lbox build --tag` makes one)", ref);
    snprintf(out, 72, "%s", found);
    *by_tag = false;
    return 0;
}

/* Held before the index is read: what it names then outlives any collection. A store this
 * user may only read (gc.lock not writable) is read without the hold: this user cannot
 * collect it, and its owner's collection is not ours to stop. */
static int hold_for_reading(struct lbox_store *st, struct lbox_error *err)
{
    if (!st->gc_held && st->gc_fd < 0) {
        st->gc_fd = open(st->gc_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (st->gc_fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM))
            st->gc_fd = open(st->gc_lock, O_RDONLY | O_CLOEXEC);
    }
    return st->gc_fd >= 0 ? lbox_store_hold(st, err) : 0;
}

static bool resolved_before(const struct lbox_store *st, const char *digest)
{
    for (size_t i = 0; i < st->nresolved; i++)
        if (!strcmp(st->resolved[i], digest))
            return true;
    return false;
}

int lbox_store_resolve(struct lbox_store *st, const char *ref, char *manifest_digest_out,
                       struct lbox_error *err)
{
    if (hold_for_reading(st, err) < 0)
        return -1;
    /* A full digest resolved earlier by this handle stays valid while held, even if its tag
     * has moved on since: one invoke reads the config and unpacks the same image. Any
     * other blob (a config, a layer) is no image. */
    if (digest_hex(ref) && resolved_before(st, ref)) {
        snprintf(manifest_digest_out, 72, "%s", ref);
        return 0;
    }
    json_t *idx = index_load(st, err);
    if (!idx)
        return -1;
    bool by_tag, verbatim;
    int r = resolve_in(idx, ref, manifest_digest_out, &by_tag, &verbatim, err);
    json_decref(idx);
    if (r == 0 && !resolved_before(st, manifest_digest_out)) {
        st->resolved = lbox_xrealloc(st->resolved, (st->nresolved + 1) * sizeof *st->resolved);
        snprintf(st->resolved[st->nresolved++], 72, "%s", manifest_digest_out);
    }
    return r;
}

int lbox_store_manifest(struct lbox_store *st, const char *ref, char **manifest_json,
                        char *manifest_digest_out, struct lbox_error *err)
{
    char d[72];
    if (lbox_store_resolve(st, ref, d, err) < 0)
        return -1;
    size_t len;
    if (lbox_store_read_blob(st, d, JSON_BLOB_LIMIT, manifest_json, &len, err) < 0)
        return -1;
    if (manifest_digest_out)
        memcpy(manifest_digest_out, d, sizeof d);
    return 0;
}

json_t *lbox_store_load_json(struct lbox_store *st, const char *digest, struct lbox_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len;
    if (lbox_store_read_blob(st, digest, JSON_BLOB_LIMIT, &data, &len, err) < 0)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je);
    if (!j || !json_is_object(j)) {
        lbox_err(err, LBOX_E_IO, "blob %s is not a JSON object (%s)", digest,
                 j ? "wrong type" : je.text);
        json_decref(j);
    }
    return json_is_object(j) ? j : NULL;
}

json_t *lbox_store_load_manifest(struct lbox_store *st, const char *digest, struct lbox_error *err)
{
    json_t *m = lbox_store_load_json(st, digest, err);
    if (!m)
        return NULL;
    const char *cfg = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    json_t *layers = json_object_get(m, "layers");
    bool ok = cfg && json_is_array(layers);
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) ok = ok && json_is_string(json_object_get(l, "digest"));
    if (!ok) {
        json_decref(m);
        lbox_err(err, LBOX_E_IO, "manifest %s has no config or layers; it is not an image "
                 "manifest", digest);
        return NULL;
    }
    return m;
}

int lbox_store_config(struct lbox_store *st, const char *ref, char **config_json,
                      struct lbox_error *err)
{
    char d[72];
    if (lbox_store_resolve(st, ref, d, err) < 0)
        return -1;
    json_t *m = lbox_store_load_manifest(st, d, err);
    if (!m)
        return -1;
    const char *cfg = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    size_t len;
    int r = lbox_store_read_blob(st, cfg, JSON_BLOB_LIMIT, config_json, &len, err);
    json_decref(m);
    return r;
}

/* ---- list ---- */

static char *label(json_t *cfg, const char *key)
{
    const char *v = json_string_value(
        json_object_get(json_object_get(json_object_get(cfg, "config"), "Labels"), key));
    return lbox_xstrdup(v ? v : "-");
}

int lbox_store_list(struct lbox_store *st, struct lbox_store_image **imgs, size_t *n,
                    struct lbox_error *err)
{
    /* Otherwise a rebuild's collection between reading the index and reading a manifest
     * shows a whole image as damaged ("?"). */
    if (hold_for_reading(st, err) < 0)
        return -1;
    json_t *idx = index_load(st, err);
    if (!idx)
        return -1;
    json_t *m = json_object_get(idx, "manifests");
    struct lbox_store_image *v = lbox_xcalloc(json_array_size(m) + 1, sizeof *v);
    size_t k = 0, i;
    json_t *d;
    json_array_foreach(m, i, d) {
        const char *ref = lbox_desc_ref(d);
        const char *dg = json_string_value(json_object_get(d, "digest"));
        if (!ref || !dg)
            continue;
        struct lbox_store_image *im = &v[k++];
        im->ref = lbox_xstrdup(ref);
        snprintf(im->manifest_digest, sizeof im->manifest_digest, "%s", dg);
        /* A damaged image is still listed (so it can be removed), with "?" for what is unreadable. */
        json_t *man = lbox_store_load_manifest(st, dg, NULL);
        const char *cd = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
        json_t *cfg = cd ? lbox_store_load_json(st, cd, NULL) : NULL;
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(man, "layers"), j, l)
            im->size += (uint64_t)json_integer_value(json_object_get(l, "size"));
        const char *created = json_string_value(json_object_get(cfg, "created"));
        im->created = lbox_xstrdup(created ? created : "?");
        im->runtime = cfg ? label(cfg, "dev.lbox.runtime") : lbox_xstrdup("?");
        im->arch = cfg ? label(cfg, "dev.lbox.arch") : lbox_xstrdup("?");
        json_decref(cfg);
        json_decref(man);
    }
    json_decref(idx);
    *imgs = v;
    *n = k;
    return 0;
}

void lbox_store_images_free(struct lbox_store_image *imgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(imgs[i].ref);
        free(imgs[i].created);
        free(imgs[i].runtime);
        free(imgs[i].arch);
    }
    free(imgs);
}

/* ---- remove and garbage collection ---- */

int lbox_store_remove(struct lbox_store *st, const char *ref, struct lbox_error *err)
{
    int lock = index_lock(st, err);
    if (lock < 0)
        return lbox_err_prefix(err, "cannot remove %s", ref);
    int r = -1;
    json_t *idx = index_load(st, err);
    json_t *removed = json_array();
    char digest[72];
    bool by_tag, verbatim;
    if (idx && resolve_in(idx, ref, digest, &by_tag, &verbatim, err) == 0) {
        _cleanup_free_ char *norm = by_tag ? lbox_ref_normalize(ref, NULL) : NULL;
        json_t *m = json_object_get(idx, "manifests");
        for (size_t i = json_array_size(m); i-- > 0;) {
            json_t *d = json_array_get(m, i);
            const char *dg = json_string_value(json_object_get(d, "digest"));
            if (by_tag ? is_tag(d, norm, ref, verbatim) : (dg && !strcmp(dg, digest))) {
                json_array_append(removed, d);
                json_array_remove(m, i);
            }
        }
        mark_for_eviction(removed);
        r = index_save(st, idx, err);
    }
    index_unlock(lock);
    if (r == 0)
        evict_unreferenced(st, idx, removed);
    json_decref(removed);
    json_decref(idx);
    if (r < 0)
        return -1;
    /* The tag is gone once the index is saved; a collection that fails is a warning. */
    return lbox_store_gc(st, NULL, err) < 0 ? 1 : 0;
}

/* Adds a digest to the referenced set (a JSON object used as a set). */
static int mark_image(struct lbox_store *st, const char *digest, json_t *keep,
                      struct lbox_error *err)
{
    json_object_set_new(keep, digest, json_true());
    json_t *m = lbox_store_load_manifest(st, digest, err);
    if (!m)
        return -1;
    json_object_set_new(keep, json_string_value(json_object_get(json_object_get(m, "config"),
                                                                "digest")), json_true());
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(m, "layers"), i, l)
        json_object_set_new(keep, json_string_value(json_object_get(l, "digest")), json_true());
    json_decref(m);
    return 0;
}

static int sweep(struct lbox_store *st, json_t *keep, size_t *removed, struct lbox_error *err)
{
    DIR *d = opendir(st->blobs);
    if (!d)
        return lbox_err_errno(err, errno, "cannot read %s", st->blobs);
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
            continue;
        _cleanup_free_ char *digest = lbox_strdupf("sha256:%s", de->d_name);
        /* temp files are only ever made by holders, and none exists now */
        if (de->d_name[0] != '.' && json_object_get(keep, digest))
            continue;
        _cleanup_free_ char *p = lbox_path_join(st->blobs, de->d_name);
        if (unlink(p) < 0 && errno != ENOENT) {
            r = lbox_err_errno(err, errno, "cannot delete unreferenced blob %s", p);
            break;
        }
        if (de->d_name[0] != '.' && removed)
            (*removed)++;
    }
    closedir(d);
    return r;
}

/* index.json.tmp.<pid> of an lbox killed while saving the index. Called under index.lock,
 * which every writer of index.json holds from before its temporary file until the rename:
 * whatever is there now is a leftover. */
static void sweep_index_temps(struct lbox_store *st)
{
    DIR *d = opendir(st->dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "index.json.tmp", 14))
            unlinkat(dirfd(d), de->d_name, 0);
    if (d)
        closedir(d);
}

int lbox_store_gc(struct lbox_store *st, size_t *removed, struct lbox_error *err)
{
    if (removed)
        *removed = 0;
    if (st->gc_fd < 0 && (st->gc_fd = open_lock(st, st->gc_lock, err)) < 0)
        return -1;
    /* Our own shared hold is converted in place; anyone else's makes us skip. A conversion
     * that fails has dropped our shared lock all the same (flock(2) converts by unlocking
     * first): take it back, or the blobs we hold would be left unprotected. */
    if (flock(st->gc_fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (st->gc_held) {
            st->gc_held = 0;
            if (lbox_store_hold(st, err) < 0)
                return -1;
        }
        if (e == EWOULDBLOCK)
            return 0;
        return lbox_err_errno(err, e, "cannot lock %s", st->gc_lock);
    }
    int lock = index_lock(st, err);
    int r = lock < 0 ? -1 : 0;
    json_t *idx = r == 0 ? index_load(st, err) : NULL;
    json_t *keep = json_object();
    if (r == 0 && !idx)
        r = -1;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(idx, "manifests"), i, d) {
        if (r < 0)
            break;
        const char *dg = json_string_value(json_object_get(d, "digest"));
        /* Never sweep when the reference graph cannot be read: we would delete live blobs.
         * The damaged image is named, since removing it is what lets collection go on. */
        if (!dg || mark_image(st, dg, keep, err) < 0) {
            const char *tag = lbox_desc_ref(d);
            if (!dg)
                lbox_err(err, LBOX_E_INVAL, "its descriptor has no digest");
            r = lbox_err_prefix(err, "garbage collection stopped (nothing deleted) at image "
                                "'%s'", tag ? tag : "(untagged)");
        }
    }
    if (r == 0)
        r = sweep(st, keep, removed, err);
    if (lock >= 0)
        sweep_index_temps(st);
    json_decref(keep);
    json_decref(idx);
    index_unlock(lock);
    flock(st->gc_fd, st->gc_held ? LOCK_SH : LOCK_UN);
    return r;
}
