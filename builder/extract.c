#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

static bool has_dotdot(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
            return true;
    return false;
}

static bool kept(const char *rel, const char *const *keep)
{
    if (!keep)
        return true;
    for (; *keep; keep++) {
        size_t n = strlen(*keep);
        if (!strncmp(rel, *keep, n) && (rel[n] == '\0' || rel[n] == '/' || (*keep)[n - 1] == '/'))
            return true;
    }
    return false;
}

/* "package/lib/x" with strip "package/" → "lib/x"; NULL when outside strip. */
/* libarchive's disk writer says only "Write failed" on a full disk; its errno says why,
 * and lbox_err_errno turns ENOSPC into LBOX_E_NOSPC with advice. */
static void __attribute__((format(printf, 3, 4)))
write_error(struct lbox_error *err, struct archive *out, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int e = archive_errno(out);
    if (e > 0)
        lbox_err_errno(err, e, "%s", what);
    else
        lbox_err(err, LBOX_E_IO, "%s: %s", what, archive_error_string(out));
}

static const char *strip_prefix(const char *name, const char *strip)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    size_t n = strlen(strip);
    if (strncmp(name, strip, n) != 0)
        return NULL;
    return name + n;
}

bool lbox_archive_write_failed(struct archive *out, int r, bool data)
{
    if (r >= ARCHIVE_OK)
        return false;
    if (r < ARCHIVE_WARN || data)
        return true;
    int e = archive_errno(out);
    return e == ENOSPC || e == EDQUOT || e == EIO;
}

int lbox_extract_subtree(const char *archive_path, const char *strip, const char *dest,
                         const char *const *keep, struct lbox_error *err)
{
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in); /* node release tarballs and npm packages */
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_UNLINK);
    int rc = -1;
    if (archive_read_open_filename(in, archive_path, 1 << 16) != ARCHIVE_OK) {
        lbox_err(err, LBOX_E_ARCHIVE, "cannot open %s: %s", archive_path, archive_error_string(in));
        goto out;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *rel = strip_prefix(archive_entry_pathname(e), strip);
        if (!rel || !*rel || !kept(rel, keep))
            continue;
        if (rel[0] == '/' || has_dotdot(rel)) {
            lbox_err(err, LBOX_E_ARCHIVE, "%s: refusing entry '%s' (it would leave %s)",
                     archive_path, archive_entry_pathname(e), dest);
            goto out;
        }
        _cleanup_free_ char *target = lbox_path_join(dest, rel);
        archive_entry_set_pathname(e, target);
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            const char *hrel = strip_prefix(hl, strip);
            if (!hrel || hrel[0] == '/' || has_dotdot(hrel)) {
                lbox_err(err, LBOX_E_ARCHIVE, "%s: hard link '%s' points outside the package",
                         archive_path, hl);
                goto out;
            }
            _cleanup_free_ char *ht = lbox_path_join(dest, hrel);
            archive_entry_set_hardlink(e, ht);
        }
        /* Release tarballs and npm packages hold plain files, dirs and links only. */
        mode_t type = archive_entry_filetype(e);
        if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
            lbox_err(err, LBOX_E_ARCHIVE, "%s: refusing special file '%s'", archive_path, rel);
            goto out;
        }
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            lbox_err(err, LBOX_E_ARCHIVE, "%s: cannot extract '%s': %s", archive_path, rel,
                     archive_error_string(out));
            goto out;
        }
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK) {
            if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK) {
                write_error(err, out, "%s: cannot write '%s'", archive_path, target);
                goto out;
            }
        }
        if (r != ARCHIVE_EOF) {
            lbox_err(err, LBOX_E_ARCHIVE, "%s is corrupt or truncated at '%s': %s", archive_path,
                     rel, archive_error_string(in));
            goto out;
        }
        if (archive_write_finish_entry(out) != ARCHIVE_OK) {
            write_error(err, out, "%s: cannot finish '%s'", archive_path, target);
            goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        lbox_err(err, LBOX_E_ARCHIVE, "%s is corrupt or truncated: %s", archive_path,
                 archive_error_string(in));
        goto out;
    }
    if (archive_write_close(out) != ARCHIVE_OK) {
        write_error(err, out, "cannot finish extracting %s", archive_path);
        goto out;
    }
    rc = 0;
out:
    archive_read_free(in);
    archive_write_free(out);
    return rc;
}
