/* Unpacking a .deb: an ar archive whose data.tar.* member is itself read as an archive
 * (libarchive on both levels: the inner reader pulls its bytes from the outer one), written
 * into a merged-/usr root with libarchive's disk writer.
 *
 * Entry names are mapped before writing: "./" stripped, ./bin ./sbin ./lib ./lib64 moved
 * under usr/, docs dropped. The writer gets absolute names (root + mapped name) so that no
 * process-wide chdir is needed; that rules out ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS, so
 * lbox_deb_map_path refuses absolute and ".." names itself before the root is prefixed, and
 * SECURE_SYMLINKS | SECURE_NODOTDOT still guard the final names. */
#include "debian_internal.h"
#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

static const char *const merged_dirs[] = {"bin", "sbin", "lib", "lib64"};
#define NMERGED (sizeof merged_dirs / sizeof merged_dirs[0])

/* Dropped to keep images small; usr/share/doc/<pkg>/copyright is kept. */
static const char *const skipped_trees[] = {"usr/share/doc", "usr/share/man", "usr/share/info",
                                            "usr/share/locale"};

int lbox_deb_merged_usr(const char *root, struct lbox_error *err)
{
    for (size_t i = 0; i < NMERGED; i++) {
        _cleanup_free_ char *rel = lbox_strdupf("usr/%s", merged_dirs[i]);
        _cleanup_free_ char *dir = lbox_path_join(root, rel);
        /* packages' own entries for these are skipped, so set the mode here, umask aside */
        if (lbox_mkdir_p(dir, 0755, err) < 0)
            return -1;
        if (chmod(dir, 0755) < 0)
            return lbox_err_errno(err, errno, "cannot set the mode of %s", dir);
        _cleanup_free_ char *link = lbox_path_join(root, merged_dirs[i]);
        char target[64];
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n >= 0) {
            target[n] = '\0';
            if (strcmp(target, rel) == 0)
                continue;
        }
        if (n >= 0 || errno != ENOENT)
            return lbox_err(err, LBOX_E_IO,
                            "%s exists and is not the merged-/usr link to %s; extract into an "
                            "empty directory",
                            link, rel);
        if (symlink(rel, link) < 0)
            return lbox_err_errno(err, errno, "cannot create %s", link);
    }
    return 0;
}

static bool under(const char *path, const char *tree)
{
    size_t n = strlen(tree);
    return strncmp(path, tree, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* usr/share/doc/<pkg>/copyright, and the directories (or links) that hold it: written from
 * their own entries, their modes do not depend on the builder's umask. */
static bool is_kept_doc(const char *path)
{
    if (strcmp(path, "usr/share/doc") == 0)
        return true;
    const char *rest = path + strlen("usr/share/doc/");
    const char *slash = strchr(rest, '/');
    return !slash || (slash > rest && strcmp(slash + 1, "copyright") == 0);
}

int lbox_deb_map_path(const char *name, char **out)
{
    while (name[0] == '.' && name[1] == '/')
        for (name += 2; *name == '/';)
            name++;
    if (name[0] == '/')
        return -1;
    size_t len = strlen(name);
    while (len > 0 && name[len - 1] == '/')
        len--;
    if (len == 0 || (len == 1 && name[0] == '.'))
        return 1;
    char *path = lbox_strdupf("%.*s", (int)len, name);
    for (char *c = path; (c = strstr(c, "..")); c += 2)
        if ((c == path || c[-1] == '/') && (c[2] == '\0' || c[2] == '/')) {
            free(path);
            return -1;
        }
    for (size_t i = 0; i < NMERGED; i++) {
        if (under(path, merged_dirs[i])) {
            char *moved = lbox_strdupf("usr/%s", path);
            free(path);
            path = moved;
            break;
        }
    }
    bool skip = false;
    for (size_t i = 0; i < NMERGED; i++) {
        char top[16];
        snprintf(top, sizeof top, "usr/%s", merged_dirs[i]);
        if (strcmp(path, top) == 0)
            skip = true; /* made by lbox_deb_merged_usr; a package must not replace it */
    }
    for (size_t i = 0; i < sizeof skipped_trees / sizeof skipped_trees[0]; i++)
        if (under(path, skipped_trees[i]) && !(i == 0 && is_kept_doc(path)))
            skip = true;
    if (skip) {
        free(path);
        return 1;
    }
    *out = path;
    return 0;
}

/* Path components of `path` pushed onto comps (".." pops, "." ignored). */
static void push_components(char ***comps, size_t *n, const char *path)
{
    _cleanup_free_ char *copy = lbox_xstrdup(path);
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            if (*n > 0)
                free((*comps)[--*n]);
            continue;
        }
        *comps = lbox_xrealloc(*comps, (*n + 1) * sizeof **comps);
        (*comps)[(*n)++] = lbox_xstrdup(c);
    }
}

static void free_components(char **comps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(comps[i]);
    free(comps);
}

static bool climbs(const char *target)
{
    for (const char *c = target; (c = strstr(c, "..")); c += 2)
        if ((c == target || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
            return true;
    return false;
}

char *lbox_deb_map_symlink(const char *orig, const char *mapped, const char *target)
{
    if (strcmp(orig, mapped) == 0 || target[0] == '/' || !climbs(target))
        return lbox_xstrdup(target);
    /* Resolve lexically from the original place, move the result the way entries move,
     * then express it relative to the new place. */
    char **dest = NULL, **from = NULL;
    size_t nd = 0, nf = 0;
    _cleanup_free_ char *odir = lbox_xstrdup(orig);
    char *slash = strrchr(odir, '/');
    if (slash)
        *slash = '\0';
    else
        odir[0] = '\0';
    push_components(&dest, &nd, odir);
    push_components(&dest, &nd, target);
    for (size_t i = 0; i < NMERGED && nd > 0; i++) {
        if (strcmp(dest[0], merged_dirs[i]) == 0) {
            dest = lbox_xrealloc(dest, (nd + 1) * sizeof *dest);
            memmove(dest + 1, dest, nd * sizeof *dest);
            dest[0] = lbox_xstrdup("usr");
            nd++;
            break;
        }
    }
    _cleanup_free_ char *mdir = lbox_xstrdup(mapped);
    slash = strrchr(mdir, '/');
    if (slash)
        *slash = '\0';
    else
        mdir[0] = '\0';
    push_components(&from, &nf, mdir);
    size_t common = 0;
    while (common < nd && common < nf && strcmp(dest[common], from[common]) == 0)
        common++;
    size_t cap = 1;
    for (size_t i = common; i < nf; i++)
        cap += 3;
    for (size_t i = common; i < nd; i++)
        cap += strlen(dest[i]) + 1;
    char *out = lbox_xcalloc(cap + 2, 1);
    for (size_t i = common; i < nf; i++)
        strcat(out, "../");
    for (size_t i = common; i < nd; i++) {
        strcat(out, dest[i]);
        if (i + 1 < nd)
            strcat(out, "/");
    }
    size_t olen = strlen(out);
    if (olen > 0 && out[olen - 1] == '/')
        out[olen - 1] = '\0';
    if (!out[0])
        strcpy(out, ".");
    free_components(dest, nd);
    free_components(from, nf);
    return out;
}

/* ---- the nested read ---- */

struct member {
    struct archive *outer;
    char buf[1 << 16];
};

static la_ssize_t member_read(struct archive *inner, void *ctx, const void **out)
{
    (void)inner;
    struct member *m = ctx;
    la_ssize_t n = archive_read_data(m->outer, m->buf, sizeof m->buf);
    *out = m->buf;
    return n < 0 ? ARCHIVE_FATAL : n;
}

static int archive_fail(struct archive *a, const char *what, const char *entry,
                        struct lbox_error *err)
{
    int e = archive_errno(a);
    const char *msg = archive_error_string(a) ? archive_error_string(a) : "unknown error";
    if (e == ENOSPC || e == EDQUOT)
        return lbox_err_errno(err, e, "%s: writing %s", what, entry ? entry : "data");
    return lbox_err(err, LBOX_E_ARCHIVE, "%s: %s%s%s", what, entry ? entry : "",
                    entry ? ": " : "", msg);
}

static int write_entry(struct archive *in, struct archive *out, struct archive_entry *e,
                       const char *root, const char *what, struct lbox_error *err)
{
    if (!archive_entry_pathname(e))
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: an entry has no name", what);
    /* a copy: giving the entry its new name below frees the old string */
    _cleanup_free_ char *name = lbox_xstrdup(archive_entry_pathname(e));
    /* A hard link entry carries no file type of its own (libarchive reports 0). */
    switch (archive_entry_hardlink(e) ? AE_IFREG : archive_entry_filetype(e)) {
    case AE_IFREG:
    case AE_IFDIR:
    case AE_IFLNK:
        break;
    default:
        return lbox_err(err, LBOX_E_ARCHIVE,
                        "%s: %s is a device, fifo or socket; a base image takes none", what, name);
    }
    _cleanup_free_ char *mapped = NULL;
    int m = lbox_deb_map_path(name, &mapped);
    if (m < 0)
        return lbox_err(err, LBOX_E_ARCHIVE,
                        "%s: entry \"%s\" is absolute or contains \"..\"; refusing the package",
                        what, name);
    if (m == 1)
        return 0;
    _cleanup_free_ char *dest = lbox_path_join(root, mapped);
    _cleanup_free_ char *hard = archive_entry_hardlink(e) ? lbox_xstrdup(archive_entry_hardlink(e)) : NULL;
    _cleanup_free_ char *hard_dest = NULL;
    if (hard) {
        _cleanup_free_ char *hmapped = NULL;
        int hm = lbox_deb_map_path(hard, &hmapped);
        if (hm != 0)
            return lbox_err(err, LBOX_E_ARCHIVE,
                            "%s: hard link \"%s\" points to \"%s\", which is %s", what, name, hard,
                            hm < 0 ? "absolute or contains \"..\"" : "not installed (docs)");
        hard_dest = lbox_path_join(root, hmapped);
        archive_entry_set_hardlink(e, hard_dest);
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!target)
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink %s has no target", what, name);
        const char *plain = name; /* the unmapped name, as lbox_deb_map_path reads it */
        while (plain[0] == '.' && plain[1] == '/')
            for (plain += 2; *plain == '/';)
                plain++;
        _cleanup_free_ char *t = lbox_deb_map_symlink(plain, mapped, target);
        archive_entry_set_symlink(e, t);
    }
    archive_entry_set_pathname(e, dest);
    if (lbox_archive_write_failed(out, archive_write_header(out, e), false))
        return archive_fail(out, what, name, err);
    if (archive_entry_size(e) > 0 && archive_entry_filetype(e) == AE_IFREG) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r;
        while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
            if (lbox_archive_write_failed(out, archive_write_data_block(out, buf, size, off), true))
                return archive_fail(out, what, name, err);
        if (r != ARCHIVE_EOF)
            return archive_fail(in, what, name, err);
    }
    if (lbox_archive_write_failed(out, archive_write_finish_entry(out), false))
        return archive_fail(out, what, name, err);
    return 0;
}

static int extract_data(struct archive *outer, const char *root, const char *what,
                        struct lbox_error *err)
{
    struct member *m = lbox_xmalloc(sizeof *m);
    m->outer = outer;
    struct archive *in = archive_read_new();
    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in);
    struct archive *out = archive_write_disk_new();
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    /* No archive_write_disk_set_standard_lookup: names would map through the host's
     * passwd; ownership is not restored at all (layers are written 0:0). */
    int rc = 0;
    if (archive_read_open(in, m, NULL, member_read, NULL) != ARCHIVE_OK) {
        rc = archive_fail(in, what, "data.tar", err);
    } else {
        struct archive_entry *e;
        int r;
        while (rc == 0 && (r = archive_read_next_header(in, &e)) != ARCHIVE_EOF) {
            if (r < ARCHIVE_WARN)
                rc = archive_fail(in, what, "data.tar", err);
            else
                rc = write_entry(in, out, e, root, what, err);
        }
    }
    /* close applies deferred directory permissions and times */
    if (archive_write_close(out) != ARCHIVE_OK && rc == 0)
        rc = archive_fail(out, what, NULL, err);
    archive_write_free(out);
    archive_read_free(in);
    free(m);
    return rc;
}

int lbox_deb_extract(const char *deb_path, const char *root, const char *what,
                     struct lbox_error *err)
{
    struct archive *outer = archive_read_new();
    archive_read_support_format_ar(outer);
    int rc = 0;
    bool found = false;
    if (archive_read_open_filename(outer, deb_path, 1 << 16) != ARCHIVE_OK) {
        rc = archive_fail(outer, what, NULL, err);
    } else {
        struct archive_entry *e;
        int r;
        while (rc == 0 && !found && (r = archive_read_next_header(outer, &e)) != ARCHIVE_EOF) {
            if (r < ARCHIVE_WARN) {
                rc = archive_fail(outer, what, NULL, err);
                break;
            }
            const char *name = archive_entry_pathname(e);
            if (name && strncmp(name, "data.tar", 8) == 0) {
                found = true;
                rc = extract_data(outer, root, what, err);
            }
        }
    }
    if (rc == 0 && !found)
        rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: %s has no data.tar member (not a .deb?)", what,
                      deb_path);
    archive_read_free(outer);
    return rc;
}
