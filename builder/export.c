/* Exports out of the store: OCI/docker archives, a rootfs directory, a rootfs tarball.
 *
 * The archive is one tar that is both an OCI image layout (oci-layout, index.json, blobs/)
 * and a `docker save` archive (manifest.json naming the same blobs), so docker load, podman
 * load and skopeo all read it. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "cache_temp.h"
#include "image.h"
#include "layer.h"
#include "store_internal.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"

/* What an export needs to know about the image. */
struct img {
    char digest[72];
    size_t manifest_size;
    char *tag;     /* normalised "name:tag" when ref names a tag, else NULL */
    json_t *manifest;
    int64_t epoch; /* the config's created time: archive entries get it as mtime */
};

static void img_free(struct img *im)
{
    free(im->tag);
    json_decref(im->manifest);
}

static int64_t parse_created(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

static int img_load(struct lbox_store *st, const char *ref, struct img *im,
                    struct lbox_error *err)
{
    memset(im, 0, sizeof *im);
    if (lbox_store_resolve(st, ref, im->digest, err) < 0)
        return -1;
    if (!(im->manifest = lbox_store_load_manifest(st, im->digest, err)))
        return -1;
    _cleanup_free_ char *mpath = lbox_store_blob_path(st, im->digest);
    struct stat sb;
    if (stat(mpath, &sb) < 0)
        return lbox_err_errno(err, errno, "cannot stat %s", mpath);
    im->manifest_size = (size_t)sb.st_size;
    const char *cfgd = json_string_value(json_object_get(json_object_get(im->manifest, "config"),
                                                         "digest"));
    json_t *cfg = lbox_store_load_json(st, cfgd, err);
    if (!cfg)
        return -1;
    im->epoch = parse_created(json_string_value(json_object_get(cfg, "created")));
    json_decref(cfg);
    /* keep the name only when `ref` really is a tag of this manifest */
    _cleanup_free_ char *norm = lbox_ref_normalize(ref, NULL);
    json_t *idx = norm ? lbox_store_index_load(st, NULL) : NULL;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(idx, "manifests"), i, d) {
        const char *r = lbox_desc_ref(d);
        if (r && !strcmp(r, norm) &&
            !strcmp(json_string_value(json_object_get(d, "digest")), im->digest))
            im->tag = lbox_xstrdup(norm);
    }
    json_decref(idx);
    return 0;
}

/* ---- the archive writer ---- */

static int tar_fail(struct archive *a, const char *out, struct lbox_error *err)
{
    int e = archive_errno(a);
    if (e == ENOSPC || e == EDQUOT)
        return lbox_err_errno(err, e, "cannot write %s", out);
    return lbox_err(err, LBOX_E_IO, "cannot write %s: %s", out, archive_error_string(a));
}

static struct archive_entry *new_entry(const char *path, mode_t type, int64_t size, int64_t mtime)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
    archive_entry_set_mtime(e, mtime, 0);
    return e;
}

static int add_dir(struct archive *a, const char *path, int64_t mtime, const char *out,
                   struct lbox_error *err)
{
    struct archive_entry *e = new_entry(path, AE_IFDIR, 0, mtime);
    int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : tar_fail(a, out, err);
    archive_entry_free(e);
    return r;
}

static int add_bytes(struct archive *a, const char *path, const char *data, int64_t mtime,
                     const char *out, struct lbox_error *err)
{
    size_t len = strlen(data);
    struct archive_entry *e = new_entry(path, AE_IFREG, (int64_t)len, mtime);
    int r = 0;
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, data, len) != (la_ssize_t)len)
        r = tar_fail(a, out, err);
    archive_entry_free(e);
    return r;
}

static int add_json(struct archive *a, const char *path, json_t *j, int64_t mtime,
                    const char *out, struct lbox_error *err)
{
    _cleanup_free_ char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    return s ? add_bytes(a, path, s, mtime, out, err)
             : lbox_err(err, LBOX_E_IO, "cannot serialise %s", path);
}

/* Copies a store blob into the archive, checking its digest on the way. */
static int add_blob(struct archive *a, struct lbox_store *st, const char *digest, int64_t mtime,
                    const char *out, struct lbox_error *err)
{
    _cleanup_free_ char *src = lbox_store_blob_path(st, digest);
    _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return lbox_err_errno(err, errno, "cannot open blob %s (remove the image with `lbox rm` "
                              "and build it again)", src);
    _cleanup_free_ char *name = lbox_strdupf("blobs/sha256/%s", digest + 7);
    struct archive_entry *e = new_entry(name, AE_IFREG, sb.st_size, mtime);
    int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : tar_fail(a, out, err);
    archive_entry_free(e);
    struct lbox_hash *h = lbox_hash_new("sha256");
    char buf[64 * 1024];
    int64_t left = sb.st_size;
    while (r == 0 && left > 0) {
        ssize_t n = read(fd, buf, left < (int64_t)sizeof buf ? (size_t)left : sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? lbox_err_errno(err, errno, "cannot read %s", src)
                      : lbox_err(err, LBOX_E_IO, "%s shrank while being exported", src);
            break;
        }
        lbox_hash_update(h, buf, (size_t)n);
        if (archive_write_data(a, buf, (size_t)n) != n)
            r = tar_fail(a, out, err);
        left -= n;
    }
    char hex[129];
    lbox_hash_final_hex(h, hex);
    if (r == 0 && strcmp(hex, digest + 7))
        r = lbox_err(err, LBOX_E_DIGEST, "blob %s in the store is corrupt (hashes to sha256:%s); "
                     "%s", src, hex, lbox_store_drop_corrupt_blob(st, digest, fd));
    return r;
}

static json_t *export_index(const struct img *im)
{
    json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", MT_MANIFEST, "digest", im->digest,
                             "size", (json_int_t)im->manifest_size);
    if (im->tag) {
        _cleanup_free_ char *q = lbox_ref_qualified(im->tag);
        json_object_set_new(desc, "annotations",
                            json_pack("{s:s, s:s}", "org.opencontainers.image.ref.name", im->tag,
                                      "io.containerd.image.name", q));
    }
    return json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", MT_INDEX,
                     "manifests", desc);
}

/* docker save's manifest.json, pointing at the OCI blobs. */
static json_t *legacy_manifest(const struct img *im)
{
    const char *cfg = json_string_value(json_object_get(json_object_get(im->manifest, "config"),
                                                        "digest"));
    json_t *layers = json_array(), *tags = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(im->manifest, "layers"), i, l) {
        const char *d = json_string_value(json_object_get(l, "digest"));
        json_array_append_new(layers, json_sprintf("blobs/sha256/%s", d + 7));
    }
    if (im->tag)
        json_array_append_new(tags, json_string(im->tag));
    return json_pack("[{s:o, s:o, s:o}]", "Config", json_sprintf("blobs/sha256/%s", cfg + 7),
                     "RepoTags", tags, "Layers", layers);
}

/* The legacy "repositories" file: {"name":{"tag":"<id>"}}. */
static json_t *legacy_repositories(const struct img *im)
{
    json_t *repos = json_object();
    if (!im->tag)
        return repos;
    _cleanup_free_ char *name = lbox_xstrdup(im->tag);
    char *colon = strrchr(name, ':');
    *colon = '\0';
    const char *cfg = json_string_value(json_object_get(json_object_get(im->manifest, "config"),
                                                        "digest"));
    json_object_set_new(repos, name, json_pack("{s:s}", colon + 1, cfg + 7));
    return repos;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int write_archive(struct archive *a, struct lbox_store *st, const struct img *im,
                         bool docker, const char *out, struct lbox_error *err)
{
    int64_t t = im->epoch;
    const char *cfg = json_string_value(json_object_get(json_object_get(im->manifest, "config"),
                                                        "digest"));
    /* blobs in sorted order, each once (a layer may repeat) */
    json_t *set = json_object();
    json_object_set_new(set, im->digest, json_true());
    json_object_set_new(set, cfg, json_true());
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(im->manifest, "layers"), i, l)
        json_object_set_new(set, json_string_value(json_object_get(l, "digest")), json_true());
    size_t n = json_object_size(set), k = 0;
    const char **digests = lbox_xcalloc(n, sizeof *digests);
    const char *key;
    json_t *v;
    json_object_foreach(set, key, v) digests[k++] = key;
    qsort(digests, n, sizeof *digests, cmp_str);
    int r = add_dir(a, "blobs", t, out, err);
    if (r == 0)
        r = add_dir(a, "blobs/sha256", t, out, err);
    for (k = 0; r == 0 && k < n; k++)
        r = add_blob(a, st, digests[k], t, out, err);
    free(digests);
    json_decref(set);
    json_t *idx = export_index(im), *mj = legacy_manifest(im), *repos = legacy_repositories(im);
    if (r == 0)
        r = add_json(a, "index.json", idx, t, out, err);
    if (r == 0)
        r = add_json(a, "manifest.json", mj, t, out, err);
    if (r == 0)
        r = add_bytes(a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", t, out, err);
    if (r == 0 && docker)
        r = add_json(a, "repositories", repos, t, out, err);
    json_decref(idx);
    json_decref(mj);
    json_decref(repos);
    return r;
}

static int export_archive(struct lbox_store *st, const struct img *im, const char *out,
                          bool docker, struct lbox_error *err)
{
    _cleanup_out_file_ struct lbox_out_file f;
    if (lbox_out_open(&f, out, 0644, err) < 0)
        return -1;
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    int r = archive_write_open_fd(a, f.fd) == ARCHIVE_OK ? 0 : tar_fail(a, out, err);
    if (r == 0)
        r = write_archive(a, st, im, docker, out, err);
    if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
        r = tar_fail(a, out, err);
    archive_write_free(a);
    return r == 0 ? lbox_out_commit(&f, err) : -1;
}

/* A folder cannot be made without a name, so it is filled under a locked temporary one that
 * the next export to `out` sweeps if this lbox is killed. */
static int export_rootfs_dir(struct lbox_store *st, const struct img *im, const char *out,
                             struct lbox_error *err)
{
    struct stat sb;
    if (lstat(out, &sb) == 0)
        return lbox_err(err, LBOX_E_INVAL, "%s already exists; remove it or choose another "
                        "output path", out);
    _cleanup_free_ char *tmp = lbox_strdupf("%s.lbox-tmp-XXXXXX", out);
    _cleanup_close_ int lock = -1;
    if (lbox_cache_temp(tmp, true, &lock, err) < 0)
        return -1;
    int r = lbox_store_unpack(st, im->digest, tmp, err);
    if (r == 0 && chmod(tmp, 0755) < 0)
        r = lbox_err_errno(err, errno, "cannot chmod %s", tmp);
    if (r == 0 && rename(tmp, out) < 0)
        r = lbox_err_errno(err, errno, "cannot rename %s to %s", tmp, out);
    if (r < 0)
        lbox_rm_rf(tmp, NULL);
    return r;
}

int lbox_export_check_target(const char *out, enum lbox_export_format fmt,
                             struct lbox_error *err)
{
    size_t n = strlen(out);
    if (!strcmp(out, "-"))
        return lbox_err(err, LBOX_E_INVAL, "-o -: lbox writes the image to a file, not to "
                        "stdout; give a path (e.g. -o image.tar) and read it from there");
    if (n == 0)
        return lbox_err(err, LBOX_E_INVAL, "-o '': give the path of the %s to write",
                        fmt == LBOX_EXPORT_ROOTFS ? "folder" : "file");
    if (out[n - 1] == '/')
        return fmt == LBOX_EXPORT_ROOTFS
                   ? lbox_err(err, LBOX_E_INVAL, "-o '%s' ends with '/': give the new folder's "
                              "path without it (e.g. -o %.*s); lbox creates the folder", out,
                              (int)(n > 1 ? n - 1 : n), out)
                   : lbox_err(err, LBOX_E_INVAL, "-o '%s' names a folder; give the path of the "
                              "file to write (e.g. %simage.tar)", out, out);
    const char *slash = strrchr(out, '/');
    _cleanup_free_ char *dir = slash ? lbox_strdupf("%.*s", (int)(slash - out + (slash == out)),
                                                    out)
                                     : lbox_xstrdup(".");
    struct stat st;
    if (stat(dir, &st) < 0)
        return lbox_err_errno(err, errno, "-o %s: cannot use the folder %s (create it first)",
                              out, dir);
    if (!S_ISDIR(st.st_mode))
        return lbox_err(err, LBOX_E_INVAL, "-o %s: %s is not a folder", out, dir);
    if (access(dir, W_OK) < 0)
        return lbox_err_errno(err, errno, "-o %s: cannot write in %s", out, dir);
    if (lstat(out, &st) == 0) {
        if (fmt == LBOX_EXPORT_ROOTFS)
            return lbox_err(err, LBOX_E_INVAL, "-o %s already exists; remove it or choose "
                            "another output path", out);
        if (S_ISDIR(st.st_mode))
            return lbox_err(err, LBOX_E_INVAL, "-o %s is a folder; --format %s writes one "
                            "file: give a file path (e.g. %s/image.tar)", out,
                            fmt == LBOX_EXPORT_DOCKER ? "docker"
                            : fmt == LBOX_EXPORT_ROOTFS_TAR ? "rootfs-tar" : "oci", out);
        /* The image is written to a new file renamed over the path: that would replace a
         * device (/dev/null), a pipe or a link itself, not write into it. */
        if (!S_ISREG(st.st_mode))
            return lbox_err(err, LBOX_E_INVAL, "-o %s is %s, not a regular file: lbox writes "
                            "the image to a new file and renames it over the path, which would "
                            "replace it; give the path of a regular file, or of none",
                            out, S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISFIFO(st.st_mode)
                                   ? "a pipe" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                                   ? "a device" : "a special file");
    }
    return 0;
}

int lbox_image_export(struct lbox_store *st, const char *ref, const char *out,
                      enum lbox_export_format fmt, struct lbox_error *err)
{
    lbox_cache_sweep_siblings(out); /* what an export to `out` killed before left */
    struct img im;
    int r = img_load(st, ref, &im, err);
    if (r == 0) {
        switch (fmt) {
        case LBOX_EXPORT_OCI:
        case LBOX_EXPORT_DOCKER:
            r = export_archive(st, &im, out, fmt == LBOX_EXPORT_DOCKER, err);
            break;
        case LBOX_EXPORT_ROOTFS:
            r = export_rootfs_dir(st, &im, out, err);
            break;
        case LBOX_EXPORT_ROOTFS_TAR: {
            _cleanup_free_ char *dir = NULL;
            r = lbox_store_rootfs(st, im.digest, &dir, err);
            if (r == 0)
                r = lbox_layer_write_tar_file(dir, im.epoch, out, err);
            break;
        }
        default:
            r = lbox_err(err, LBOX_E_INVAL, "unknown export format %d", (int)fmt);
        }
    }
    img_free(&im);
    return r < 0 ? lbox_err_prefix(err, "cannot export %s to %s", ref, out) : 0;
}
