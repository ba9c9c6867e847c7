/* Builds tiny Debian artefacts for the Debian-source tests: .deb files (ar with
 * debian-binary, control.tar.gz, data.tar.xz), compressed Packages indexes and a Release
 * file, all with libarchive, so the tests need no network and no dpkg. */
#ifndef LBOX_TEST_DEBIAN_FIXTURE_H
#define LBOX_TEST_DEBIAN_FIXTURE_H

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/hash.h"

struct fx_entry {
    const char *name;    /* as in data.tar, e.g. "./bin/tool" */
    char type;           /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' char device */
    const char *data;    /* file content, or link target */
};

#define FX_BUF (4u << 20)

/* Writes entries as a tar (filter: "xz", "gzip" or NULL) into buf; returns its size. */
static inline size_t fx_tar(const struct fx_entry *ents, size_t n, const char *filter, char *buf)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_gnutar(a);
    if (filter && strcmp(filter, "xz") == 0)
        archive_write_add_filter_xz(a);
    else if (filter)
        archive_write_add_filter_gzip(a);
    size_t used = 0;
    if (archive_write_open_memory(a, buf, FX_BUF, &used) != ARCHIVE_OK)
        abort();
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_mtime(e, 1700000000, 0);
        switch (ents[i].type) {
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, ents[i].data);
            break;
        case 'h': /* like dpkg-deb's tar: a link entry with no file type of its own */
            archive_entry_set_perm(e, 0644);
            archive_entry_set_hardlink(e, ents[i].data);
            break;
        case 'c':
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_perm(e, 0600);
            archive_entry_set_rdevmajor(e, 1);
            archive_entry_set_rdevminor(e, 3);
            break;
        default:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0755);
            archive_entry_set_size(e, (la_int64_t)strlen(ents[i].data));
        }
        if (archive_write_header(a, e) != ARCHIVE_OK)
            abort();
        if (ents[i].type == 'f')
            archive_write_data(a, ents[i].data, strlen(ents[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return used;
}

static inline void fx_ar_member(struct archive *a, const char *name, const void *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        abort();
    archive_write_data(a, data, len);
    archive_entry_free(e);
}

/* Writes a .deb to path; returns its sha256 (hex, static buffer of the caller: out[65]). */
static inline void fx_deb(const char *path, const char *pkg, const struct fx_entry *ents, size_t n,
                   char *sha_out, size_t *size_out)
{
    char *ctl = malloc(FX_BUF), *data = malloc(FX_BUF);
    char control[256];
    snprintf(control, sizeof control, "Package: %s\nVersion: 1.0\nArchitecture: amd64\n", pkg);
    struct fx_entry c[] = {{"./control", 'f', control}};
    size_t clen = fx_tar(c, 1, "gzip", ctl);
    size_t dlen = fx_tar(ents, n, "xz", data);
    struct archive *a = archive_write_new();
    archive_write_set_format_ar_svr4(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        abort();
    fx_ar_member(a, "debian-binary", "2.0\n", 4);
    fx_ar_member(a, "control.tar.gz", ctl, clen);
    fx_ar_member(a, "data.tar.xz", data, dlen);
    archive_write_close(a);
    archive_write_free(a);
    free(ctl);
    free(data);
    struct lbox_error err;
    if (lbox_sha256_file(path, sha_out, &err) < 0)
        abort();
    struct stat st;
    stat(path, &st);
    *size_out = (size_t)st.st_size;
}

/* Compresses text with xz into path (libarchive's raw format). */
static inline void fx_xz_file(const char *path, const char *text)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_raw(a);
    archive_write_add_filter_xz(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK)
        abort();
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "Packages");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (la_int64_t)strlen(text));
    archive_write_header(a, e);
    archive_write_data(a, text, strlen(text));
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
}

static inline void fx_write(const char *path, const char *text)
{
    struct lbox_error err;
    if (lbox_write_file_atomic(path, text, strlen(text), 0644, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
}

#endif
