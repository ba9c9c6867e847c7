/* Bases of unpacked images.
 *
 * Why: every build of a function makes a new image, its code being its top layer, and a
 * rootfs is some 40000 files (300 MB). Unpacking each new image whole on its first invoke
 * took 7 to 25 s of kernel time on this project's CI machines, nearly all of it allocating
 * inodes. A base is the rootfs of all layers but the top one, kept in the cache; an image's
 * rootfs is a hard-link copy of its base (tree_link.h: only the ~7000 directories are new
 * inodes) with the top layer unpacked over it. Functions of one runtime and architecture
 * share one base, so a rebuilt function's first invoke makes directories and links only.
 *
 * Sharing inodes between root filesystems is safe because nothing writes them in place:
 * the sandbox mounts a rootfs read-only, and the top layer is unpacked over_links (files
 * are replaced, never rewritten: lbox_store_extract_layer).
 *
 * Locking and eviction are those of the images' rootfs (rootfs_cache.c): a base is made
 * under a locked .tmp- name and renamed into place; whoever links from one holds it shared;
 * lbox_rootfs_evict takes the bases that no image of the store names. Evicting a base never
 * touches the root filesystems linked from it: their links keep the data. */
#include "rootfs_base.h"

#include <errno.h>
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
#include "rootfs_cache.h"
#include "store_internal.h"
#include "tree_link.h"

static const char *layer_digest(json_t *manifest, size_t i)
{
    json_t *l = json_array_get(json_object_get(manifest, "layers"), i);
    return json_string_value(json_object_get(l, "digest"));
}

int lbox_rootfs_base_key(json_t *manifest, char key[65])
{
    size_t n = json_array_size(json_object_get(manifest, "layers"));
    if (n < 2)
        return 1;
    struct lbox_hash *h = lbox_hash_new("sha256");
    for (size_t i = 0; i + 1 < n; i++) {
        const char *d = layer_digest(manifest, i);
        lbox_hash_update(h, d, strlen(d));
        lbox_hash_update(h, "\n", 1);
    }
    char hex[129];
    lbox_hash_final_hex(h, hex);
    memcpy(key, hex, 64); /* sha256: 64 hex digits */
    key[64] = '\0';
    return 0;
}

/* Unpacks the layers below the top one into a locked temporary folder of the cache, then
 * renames it to `path` (another lbox that got there first wins; ours goes). */
static int make_base(struct lbox_store *st, json_t *manifest, const char *parent,
                     const char *key, const char *path, struct lbox_error *err)
{
    _cleanup_free_ char *tmp = lbox_strdupf("%s/.tmp-base-%.12s-XXXXXX", parent, key);
    _cleanup_close_ int lock = -1;
    if (lbox_cache_temp(tmp, true, &lock, err) < 0)
        return -1;
    char root[PATH_MAX];
    int r = realpath(tmp, root) ? 0 : lbox_err_errno(err, errno, "cannot unpack into %s", tmp);
    size_t n = json_array_size(json_object_get(manifest, "layers"));
    for (size_t i = 0; r == 0 && i + 1 < n; i++)
        r = lbox_store_extract_layer(st, layer_digest(manifest, i), root, false, err);
    if (r == 0 && chmod(tmp, 0755) < 0)
        r = lbox_err_errno(err, errno, "cannot chmod %s", tmp);
    if (r == 0 && rename(tmp, path) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY)
            lbox_rm_rf(tmp, NULL);
        else
            r = lbox_err_errno(err, errno, "cannot rename %s to %s", tmp, path);
    }
    if (r < 0)
        lbox_rm_rf(tmp, NULL);
    return r;
}

int lbox_rootfs_base_unpack(struct lbox_store *st, json_t *manifest, const char *dst,
                            struct lbox_error *err)
{
    char key[65];
    if (lbox_rootfs_base_key(manifest, key) != 0)
        return 1;
    _cleanup_free_ char *parent = lbox_rootfs_cache_dir();
    _cleanup_free_ char *name = lbox_strdupf("base-%s", key);
    _cleanup_free_ char *path = lbox_path_join(parent, name);
    /* Held while linked from, so that no eviction deletes it half-way; made when missing,
     * or when an eviction took it between our making and our hold. */
    int fd = -1;
    for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
        int held = lbox_rootfs_hold(path, &fd, err);
        if (held < 0)
            return -1;
        if (held == 1 && make_base(st, manifest, parent, key, path, err) < 0)
            return -1;
    }
    if (fd < 0)
        return 1;
    int linked = lbox_tree_link(path, dst, NULL);
    /* A base an eviction marked meanwhile is taken by the next eviction pass. */
    (void)lbox_rootfs_release(path, fd);
    if (linked < 0)
        return 1; /* a file system without hard links, say: unpacking whole still works */
    char root[PATH_MAX];
    if (!realpath(dst, root))
        return lbox_err_errno(err, errno, "cannot unpack into %s", dst);
    size_t n = json_array_size(json_object_get(manifest, "layers"));
    return lbox_store_extract_layer(st, layer_digest(manifest, n - 1), root, true, err);
}
