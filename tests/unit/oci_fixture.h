/* Shared helpers for the layer, store and export tests: temp trees, files, digests. */
#ifndef LBOX_TEST_OCI_FIXTURE_H
#define LBOX_TEST_OCI_FIXTURE_H

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/hash.h"

static inline char *fx_tmpdir(void)
{
    char *d = lbox_xstrdup("/tmp/lbox-test-XXXXXX");
    if (!mkdtemp(d))
        abort();
    chmod(d, 0755);
    return d;
}

/* Writes `data` to root/rel, creating parents. */
static inline void fx_write(const char *root, const char *rel, const char *data)
{
    char *p = lbox_path_join(root, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    struct lbox_error err;
    if (lbox_mkdir_p(p, 0755, &err) < 0)
        abort();
    *slash = '/';
    FILE *f = fopen(p, "w");
    if (!f)
        abort();
    fputs(data, f);
    fclose(f);
    free(p);
}

static inline void fx_mkdir(const char *root, const char *rel)
{
    char *p = lbox_path_join(root, rel);
    struct lbox_error err;
    if (lbox_mkdir_p(p, 0755, &err) < 0)
        abort();
    free(p);
}

static inline void fx_rm(const char *path)
{
    struct lbox_error err;
    lbox_rm_rf(path, &err);
}

/* "sha256:<hex>" of the gunzipped content of a memory buffer (libarchive raw reader). */
static inline void fx_gunzip_digest(const void *data, size_t len, char out[72])
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_raw(a);
    struct archive_entry *e;
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK)
        abort();
    struct lbox_hash *h = lbox_hash_new("sha256");
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        lbox_hash_update(h, buf, (size_t)n);
    char hex[129];
    lbox_hash_final_hex(h, hex);
    snprintf(out, 72, "sha256:%.64s", hex);
    archive_read_free(a);
}

/* Number of directory entries (minus . and ..) whose name starts with `prefix` ("" = all). */
static inline size_t fx_count(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            !strncmp(de->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

/* Sets XDG dirs under a fresh temp root so the default store and cache are private. */
static inline char *fx_private_xdg(void)
{
    char *root = fx_tmpdir();
    char *data = lbox_path_join(root, "data"), *cache = lbox_path_join(root, "cache");
    setenv("XDG_DATA_HOME", data, 1);
    setenv("XDG_CACHE_HOME", cache, 1);
    free(data);
    free(cache);
    return root;
}

#endif
