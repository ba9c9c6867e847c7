/* Installs function code or a layer: reads a directory or a zip into an entry list, checks
 * it (code_check.c), then writes it under dest with every path resolved beneath dest. */
#include "code.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "code_entry.h"

#define MiB (1024.0 * 1024.0)

struct writer {
    int rootfd; /* dest, O_PATH */
    const char *input; /* the name messages give the input (the user's, not a staging path) */
    bool is_dir;       /* the input is a directory, not a zip */
    struct lbox_code_budget *budget;
    uint64_t used_before; /* budget->used when this input started */
    size_t label_depth;   /* directory levels of root_label: 2 for /var/task */
    const char *label;
    uint64_t listed_dirs; /* directories and symlinks a directory source has listed so far */
    uint64_t listed_files; /* regular files listed so far (zip or directory) */
};

/* A source of file content: archive_read_data or read(2). */
typedef ssize_t (*read_fn)(void *ctx, void *buf, size_t n);

static int openat2_fd(int dirfd, const char *path, int flags, uint64_t resolve)
{
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static int limit_error(struct writer *w, uint64_t total, int at_least, struct lbox_error *err)
{
    char limit[32];
    if (w->budget->limit % (1024 * 1024) == 0)
        snprintf(limit, sizeof limit, "%llu", (unsigned long long)(w->budget->limit >> 20));
    else
        snprintf(limit, sizeof limit, "%.1f", (double)w->budget->limit / MiB);
    return lbox_err(err, LBOX_E_LIMIT,
                    "function code and layers unzip to %s%.1f MB, over Lambda's %s MB limit: "
                    "'%s' pushed it over (%.1f MB before it). Leave out what the function does "
                    "not need at run time (dev dependencies, tests, docs, source maps), or "
                    "deploy it as a container image instead",
                    at_least ? "at least " : "", (double)total / MiB, limit, w->input,
                    (double)w->used_before / MiB);
}

/* ---- names, depth and directory count: the first-pass checks code_check.c leaves ---- */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0: a stray or cut-short byte, an
 * overlong form, a surrogate or a code point past U+10FFFF, which no UTF-8 decoder takes. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0], cp, min;
    size_t n;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : n;
}

/* An entry name as a message shows it: bytes that are not UTF-8 text, and control
 * characters, as \xNN (they cannot be printed as they are), cut after about 160 bytes (a
 * path 250 levels deep would fill the message). malloc'd. */
static char *shown_name(const char *name)
{
    enum { SHOWN_MAX = 160 };
    char *out = lbox_xmalloc(strlen(name) * 4 + 4), *o = out;
    for (const unsigned char *p = (const unsigned char *)name; *p;) {
        if (o - out >= SHOWN_MAX) {
            strcpy(o, "...");
            return out;
        }
        size_t n = utf8_len(p);
        if (n == 0 || *p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\x%02x", *p);
            p++;
        } else {
            memcpy(o, p, n);
            o += n;
            p += n;
        }
    }
    *o = '\0';
    return out;
}

static int dirs_error(struct writer *w, uint64_t dirs, int at_least, struct lbox_error *err)
{
    return lbox_err(err, LBOX_E_LIMIT,
                    "%s: the function code and layers would make %s%llu directories and "
                    "symlinks (%llu before this input), over lbox's limit of %llu: each takes a "
                    "4 KB block on disk that Lambda's 250 MB count leaves out, and no real "
                    "package holds that many (a zip of deeply nested paths is a directory "
                    "bomb); leave out what the function does not need",
                    w->input, at_least ? "at least " : "",
                    (unsigned long long)(w->budget->dirs + dirs),
                    (unsigned long long)w->budget->dirs,
                    (unsigned long long)w->budget->dirs_limit);
}

static int files_error(struct writer *w, struct lbox_error *err)
{
    return lbox_err(err, LBOX_E_LIMIT,
                    "%s: the function code and layers would hold more than %llu files (%llu "
                    "before this input), over lbox's limit: each takes an inode that Lambda's "
                    "250 MB count leaves out, and no real package holds that many; leave out "
                    "what the function does not need",
                    w->input, (unsigned long long)w->budget->files_limit,
                    (unsigned long long)w->budget->files);
}

/* Counts one more listed file; -1 past the cap, so a zip or tree of millions of files
 * stops while it is being listed. */
static int count_file(struct writer *w, struct lbox_error *err)
{
    if (++w->listed_files > w->budget->files_limit - w->budget->files ||
        w->budget->files > w->budget->files_limit)
        return files_error(w, err);
    return 0;
}

static bool valid_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* A symlink's target goes into the layer's tar as its name does: UTF-8 only. */
static int check_target(struct writer *w, const char *path, const char *target,
                        struct lbox_error *err)
{
    if (valid_utf8(target))
        return 0;
    _cleanup_free_ char *shown = shown_name(path), *shown_target = shown_name(target);
    return lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' points to '%s', which is not valid "
                    "UTF-8 (the bytes shown as \\xNN); point it to a UTF-8 name", w->input,
                    shown, shown_target);
}

/* Checks one entry's (normalized) name before anything is written: UTF-8, no whiteout
 * component, not too deep. */
static int check_entry(struct writer *w, const char *path, enum code_type type,
                       struct lbox_error *err)
{
    if (!valid_utf8(path)) {
        _cleanup_free_ char *shown = shown_name(path);
        /* A layer's tar holds UTF-8 names: libarchive could not write this one (and
         * Lambda's unzip would make another name of it), so refuse it now, by name. */
        if (w->is_dir)
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: '%s' has a name that is not valid UTF-8 "
                            "(the bytes shown as \\xNN), which a Lambda package cannot hold: "
                            "rename it", w->input, shown);
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' has a name that is not valid "
                        "UTF-8 (the bytes shown as \\xNN); rename it, or re-create the zip "
                        "with a tool that stores UTF-8 names (Info-ZIP's zip does; a zip made "
                        "with a legacy code page such as CP437 does not)", w->input, shown);
    }
    size_t depth = w->label_depth + (type == CODE_DIR);
    for (const char *c = path; *c;) {
        const char *e = strchrnul(c, '/');
        /* Every directory becomes a tar entry of its own, so any component counts. */
        if (!strncmp(c, ".wh.", 4)) {
            _cleanup_free_ char *shown = shown_name(path);
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' has a name starting with "
                            "'.wh.', which image layers use to mark deleted files: unpacking "
                            "the image would delete files instead of creating it (Docker "
                            "refuses such names too); rename it", w->input, shown);
        }
        if (*e)
            depth++;
        c = *e ? e + 1 : e;
    }
    if (depth > LBOX_CODE_MAX_DEPTH) {
        _cleanup_free_ char *shown = shown_name(path);
        return lbox_err(err, LBOX_E_LIMIT, "%s: entry '%s' is nested %zu directory levels "
                        "below / in the image (in %s), over lbox's limit of %d; no real package "
                        "is nested that deep: flatten the tree", w->input, shown, depth,
                        w->label, LBOX_CODE_MAX_DEPTH);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories (listed, or implied by the paths under them) and symlinks the list makes,
 * each counted once (a zip may list one twice). A directory or symlink "d" is taken as
 * "d/", so that every one ends in a '/' like the directories above it. Sorted, the paths
 * under one "d/" are next to each other, so a path adds exactly the '/'s past what it
 * shares with the path before it. */
static uint64_t count_dirs(const struct code_list *l)
{
    char **v = lbox_xcalloc(l->n ? l->n : 1, sizeof *v);
    uint64_t dirs = 0;
    for (size_t i = 0; i < l->n; i++)
        v[i] = l->v[i].type != CODE_FILE ? lbox_strdupf("%s/", l->v[i].path)
                                         : lbox_xstrdup(l->v[i].path);
    qsort(v, l->n, sizeof *v, cmp_str);
    for (size_t i = 0; i < l->n; i++) {
        size_t k = 0;
        if (i)
            while (v[i][k] && v[i][k] == v[i - 1][k])
                k++;
        for (; v[i][k]; k++)
            dirs += v[i][k] == '/';
    }
    for (size_t i = 0; i < l->n; i++)
        free(v[i]);
    free(v);
    return dirs;
}

/* ---- writing under dest ---- */

/* Opens (creating 0755 directories as needed) the directory `dir` under dest. */
static int ensure_dir(struct writer *w, const char *dir, const char *entry, int *out,
                      struct lbox_error *err)
{
    *out = openat2_fd(w->rootfd, *dir ? dir : ".", O_PATH | O_DIRECTORY, RESOLVE_BENEATH);
    if (*out >= 0)
        return 0;
    if (errno == ENOENT && *dir) {
        _cleanup_free_ char *parent = lbox_xstrdup(dir);
        char *slash = strrchr(parent, '/');
        const char *base = slash ? slash + 1 : dir;
        if (slash)
            *slash = '\0';
        else
            parent[0] = '\0';
        _cleanup_close_ int pfd = -1;
        if (ensure_dir(w, parent, entry, &pfd, err) < 0)
            return -1;
        if (mkdirat(pfd, base, 0755) == 0) {
            if (fchmodat(pfd, base, 0755, 0) < 0) /* whatever the umask */
                return lbox_err_errno(err, errno, "%s: cannot set the mode of '%s'", w->input,
                                      dir);
        } else if (errno != EEXIST) {
            return lbox_err_errno(err, errno, "%s: cannot create directory '%s' for entry '%s'",
                                  w->input, dir, entry);
        }
        *out = openat2_fd(w->rootfd, dir, O_PATH | O_DIRECTORY, RESOLVE_BENEATH);
        if (*out >= 0)
            return 0;
    }
    if (errno == ENOTDIR)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' needs '%s' to be a directory, but "
                        "it is a file (from this input or an earlier layer); rename one of them",
                        w->input, entry, dir);
    if (errno == EXDEV || errno == ELOOP)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' would be written through a symlink "
                        "in '%s' that leads outside the root; remove that link", w->input, entry,
                        dir);
    return lbox_err_errno(err, errno, "%s: cannot open directory '%s' for entry '%s'", w->input,
                          dir, entry);
}

/* Opens the parent of `path`; *base points into path at the last component. */
static int open_parent(struct writer *w, const char *path, const char **base, int *pfd,
                       struct lbox_error *err)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = slash ? strndup(path, (size_t)(slash - path)) : lbox_xstrdup("");
    if (!dir)
        abort();
    *base = slash ? slash + 1 : path;
    return ensure_dir(w, dir, path, pfd, err);
}

/* Clears the way for a new file or symlink: a later input replaces what an earlier one left,
 * and never writes through it. A non-empty directory is not silently thrown away. */
static int clear_name(struct writer *w, int pfd, const char *base, const char *path,
                      struct lbox_error *err)
{
    if (unlinkat(pfd, base, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno == EISDIR && (unlinkat(pfd, base, AT_REMOVEDIR) == 0 || errno == ENOENT))
        return 0;
    if (errno == ENOTEMPTY || errno == EEXIST)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' is a file, but an earlier entry or "
                        "layer made '%s' a non-empty directory; rename one of them", w->input,
                        path, path);
    return lbox_err_errno(err, errno, "%s: cannot replace '%s'", w->input, path);
}

static int write_dir(struct writer *w, const struct code_entry *e, struct lbox_error *err)
{
    const char *base;
    _cleanup_close_ int pfd = -1;
    if (open_parent(w, e->path, &base, &pfd, err) < 0)
        return -1;
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        /* A file or symlink of an earlier layer stands where this directory goes: later wins,
         * and a symlink is replaced rather than followed, as the symlink check assumed. */
        if (clear_name(w, pfd, base, e->path, err) < 0)
            return -1;
    } else if (errno != ENOENT) {
        return lbox_err_errno(err, errno, "%s: cannot stat '%s'", w->input, e->path);
    }
    if (mkdirat(pfd, base, 0700) < 0)
        return lbox_err_errno(err, errno, "%s: cannot create directory '%s'", w->input, e->path);
    return 0;
}

static int write_symlink(struct writer *w, const struct code_entry *e, struct lbox_error *err)
{
    const char *base;
    _cleanup_close_ int pfd = -1;
    if (open_parent(w, e->path, &base, &pfd, err) < 0 || clear_name(w, pfd, base, e->path, err) < 0)
        return -1;
    if (symlinkat(e->target, pfd, base) < 0)
        return lbox_err_errno(err, errno, "%s: cannot create symlink '%s'", w->input, e->path);
    return 0;
}

static int write_file(struct writer *w, const struct code_entry *e, read_fn rd, void *ctx,
                      const char *(*rd_error)(void *ctx), struct lbox_error *err)
{
    const char *base;
    _cleanup_close_ int pfd = -1;
    if (open_parent(w, e->path, &base, &pfd, err) < 0 || clear_name(w, pfd, base, e->path, err) < 0)
        return -1;
    _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                    0600);
    if (fd < 0)
        return lbox_err_errno(err, errno, "%s: cannot create '%s'", w->input, e->path);

    char buf[64 * 1024];
    for (;;) {
        ssize_t n = rd(ctx, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0)
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' cannot be read: %s; the file is "
                            "corrupt: re-create or download it again", w->input, e->path,
                            rd_error(ctx));
        /* Counted on what really comes out, so a zip lying about sizes stops here. */
        if (w->budget->used + (uint64_t)n > w->budget->limit)
            return limit_error(w, w->budget->used + (uint64_t)n, 1, err);
        w->budget->used += (uint64_t)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t k = write(fd, buf + off, (size_t)(n - off));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return lbox_err_errno(err, errno, "%s: cannot write '%s'", w->input, e->path);
            off += k;
        }
    }
    if (fchmod(fd, e->mode) < 0)
        return lbox_err_errno(err, errno, "%s: cannot set the mode of '%s'", w->input, e->path);
    int rc = close(fd);
    fd = -1;
    if (rc < 0)
        return lbox_err_errno(err, errno, "%s: cannot write '%s'", w->input, e->path);
    return 0;
}

/* Directory modes last, so that a read-only directory does not block its own content. */
static int apply_dir_modes(struct writer *w, const struct code_list *l, struct lbox_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].type != CODE_DIR)
            continue;
        _cleanup_close_ int fd = openat2_fd(w->rootfd, l->v[i].path, O_RDONLY | O_DIRECTORY |
                                            O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
        if (fd < 0)
            continue; /* replaced by a later entry of the same input */
        if (fchmod(fd, l->v[i].mode) < 0)
            return lbox_err_errno(err, errno, "%s: cannot set the mode of '%s'", w->input,
                                  l->v[i].path);
    }
    return 0;
}

/* ---- zip sources ---- */

/* seekable: through the central directory; otherwise the local headers, front to back. */
static int zip_open(const char *src, const char *shown, int seekable, struct archive **out,
                    struct lbox_error *err)
{
    struct archive *a = archive_read_new();
    if (!a)
        abort();
    /* The central directory is the truth (as for unzip), and a cut file has none. */
    if (seekable)
        archive_read_support_format_zip_seekable(a);
    else
        archive_read_support_format_zip_streamable(a);
    if (archive_read_open_filename(a, src, 64 * 1024) != ARCHIVE_OK) {
        char magic[4] = { 0 };
        FILE *f = fopen(src, "rb");
        if (f) {
            if (fread(magic, 1, sizeof magic, f) != sizeof magic)
                magic[0] = '\0';
            fclose(f);
        }
        if (!memcmp(magic, "PK\5\6", 4)) /* an end-of-central-directory record and nothing else */
            lbox_err(err, LBOX_E_ARCHIVE, "%s: the zip is empty; zip the function's files "
                     "(cd fn && zip -r ../fn.zip .)", shown);
        else
            lbox_err(err, LBOX_E_ARCHIVE, "%s: not a readable zip file (%s); it may be "
                     "truncated or not a zip at all: copy or download it again, or re-create it "
                     "with zip -r", shown, archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

static const char *type_name(mode_t ft)
{
    switch (ft) {
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a fifo";
    case AE_IFSOCK: return "a socket";
    default: return "of an unknown type";
    }
}

/* Reads one header into a normalized entry; *skip when it names the root itself. */
static int zip_entry(const char *src, struct archive_entry *ae, struct code_entry *out, int *skip,
                     struct lbox_error *err)
{
    const char *name = archive_entry_pathname(ae);
    if (!name)
        name = archive_entry_pathname_utf8(ae);
    if (archive_entry_is_encrypted(ae))
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' is encrypted and Lambda cannot "
                        "unzip it; re-create the zip without a password", src, name ? name : "?");
    if (archive_entry_hardlink(ae))
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' is a hardlink to '%s'; Lambda's "
                        "unzip makes no hardlinks: store a copy of the file instead", src,
                        name ? name : "?", archive_entry_hardlink(ae));
    char *path;
    if (code_path_normalize(src, name, &path, err) < 0)
        return -1;
    mode_t ft = archive_entry_filetype(ae);
    enum code_type type;
    if (ft == AE_IFREG || ft == 0) {
        type = name[strlen(name) - 1] == '/' ? CODE_DIR : CODE_FILE;
    } else if (ft == AE_IFDIR) {
        type = CODE_DIR;
    } else if (ft == AE_IFLNK) {
        type = CODE_SYMLINK;
    } else {
        lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' is %s; a Lambda package may only hold "
                 "files, directories and symlinks: remove it", src, name, type_name(ft));
        free(path);
        return -1;
    }
    *skip = path == NULL;
    if (*skip)
        return 0;
    char *target = NULL;
    if (type == CODE_SYMLINK) {
        const char *t = archive_entry_symlink(ae);
        if (!t)
            t = archive_entry_symlink_utf8(ae);
        target = lbox_xstrdup(t ? t : "");
    }
    uint64_t size = type == CODE_FILE && archive_entry_size(ae) > 0
                        ? (uint64_t)archive_entry_size(ae) : 0;
    *out = (struct code_entry){ path, type, code_sanitize_mode(archive_entry_perm(ae), type), size,
                                target };
    return 0;
}

static int zip_error(const char *src, struct archive *a, const char *after, struct lbox_error *err)
{
    return lbox_err(err, LBOX_E_ARCHIVE, "%s: corrupt zip %s%s%s (%s); re-create the zip or "
                    "download it again", src, after ? "after entry '" : "at its first entry",
                    after ? after : "", after ? "'" : "", archive_error_string(a));
}

static int zip_list(struct writer *w, const char *src, struct code_list *l,
                    struct lbox_error *err)
{
    struct archive *a;
    if (zip_open(src, w->input, 1, &a, err) < 0)
        return -1;
    struct archive_entry *ae;
    int r, rc = 0;
    while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        struct code_entry e;
        int skip;
        if (zip_entry(w->input, ae, &e, &skip, err) < 0) {
            rc = -1;
            break;
        }
        if (skip)
            continue;
        code_list_add(l, e.path, e.type, e.mode, e.size, e.target);
        if (check_entry(w, e.path, e.type, err) < 0 ||
            (e.type == CODE_SYMLINK && check_target(w, e.path, e.target, err) < 0) ||
            (e.type == CODE_FILE && count_file(w, err) < 0)) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = zip_error(w->input, a, l->n ? l->v[l->n - 1].path : NULL, err);
    archive_read_free(a);
    return rc;
}

/* libarchive stops quietly at a damaged central directory record, which would drop files
 * without a word. So the local headers are read too, front to back, and every entry found
 * there must be listed in the central directory. The content is inflated here as well (no
 * other way to find where a streamed entry ends), counted against the budget so that a zip
 * lying about its sizes stops before anything is written. */
static int zip_cross_check(struct writer *w, const char *src, const struct code_list *l,
                           struct lbox_error *err)
{
    const char **names = lbox_xcalloc(l->n ? l->n : 1, sizeof *names);
    for (size_t i = 0; i < l->n; i++)
        names[i] = l->v[i].path;
    qsort(names, l->n, sizeof *names, cmp_str);

    struct archive *a;
    if (zip_open(src, w->input, 0, &a, err) < 0) {
        free(names);
        return -1;
    }
    char buf[64 * 1024];
    uint64_t total = w->budget->used;
    struct archive_entry *ae;
    int rc = 0;
    int r;
    while (rc == 0 && ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        struct code_entry e;
        int skip;
        if (zip_entry(w->input, ae, &e, &skip, err) < 0) {
            rc = -1;
            break;
        }
        if (skip)
            continue;
        /* Mac resource forks are folded into their files by the central-directory reader. */
        if (strncmp(e.path, "__MACOSX/", 9) != 0 && strcmp(e.path, "__MACOSX") != 0 &&
            !bsearch(&e.path, names, l->n, sizeof *names, cmp_str))
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: corrupt zip: entry '%s' is in the file but "
                          "not in its central directory, so part of the package would be lost; "
                          "re-create the zip or download it again", w->input, e.path);
        for (la_ssize_t n; rc == 0 && e.type == CODE_FILE &&
                           (n = archive_read_data(a, buf, sizeof buf)) > 0;) {
            total += (uint64_t)n;
            if (total > w->budget->limit)
                rc = limit_error(w, total, 1, err);
        }
        free(e.path);
        free(e.target);
    }
    /* Read errors are left to the central-directory pass, which reports them per entry. */
    archive_read_free(a);
    free(names);
    return rc;
}

struct zip_reader { struct archive *a; };

static ssize_t zip_read(void *ctx, void *buf, size_t n)
{
    return archive_read_data(((struct zip_reader *)ctx)->a, buf, n);
}

static const char *zip_read_error(void *ctx)
{
    const char *s = archive_error_string(((struct zip_reader *)ctx)->a);
    return s ? s : "unknown libarchive error";
}

static int zip_write(struct writer *w, const char *src, const struct code_list *l,
                     struct lbox_error *err)
{
    struct archive *a;
    if (zip_open(src, w->input, 1, &a, err) < 0)
        return -1;
    struct zip_reader zr = { a };
    struct archive_entry *ae;
    size_t i = 0;
    int r, rc = 0;
    while (rc == 0 && ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        struct code_entry e;
        int skip;
        if (zip_entry(w->input, ae, &e, &skip, err) < 0) {
            rc = -1;
            break;
        }
        if (skip)
            continue;
        /* The same file read twice must give the same list; anything else is a race. */
        if (i >= l->n || strcmp(e.path, l->v[i].path) != 0 || e.type != l->v[i].type)
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: the zip changed while it was being read; "
                          "do not modify it during the build", w->input);
        else if (e.type == CODE_DIR)
            rc = write_dir(w, &l->v[i], err);
        else if (e.type == CODE_SYMLINK)
            rc = write_symlink(w, &l->v[i], err);
        else
            rc = write_file(w, &l->v[i], zip_read, &zr, zip_read_error, err);
        free(e.path);
        free(e.target);
        i++;
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = zip_error(w->input, a, i ? l->v[i - 1].path : NULL, err);
    archive_read_free(a);
    return rc;
}

/* ---- directory sources ---- */

static int dir_list_at(struct writer *w, int dfd, const char *prefix, struct code_list *l,
                       struct lbox_error *err)
{
    const char *src = w->input;
    size_t n = 0;
    char **names = lbox_dir_names_at(dfd, &n);
    if (!names)
        return lbox_err_errno(err, errno, "%s: cannot read directory '%s'", src,
                              *prefix ? prefix : ".");

    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = *prefix ? lbox_strdupf("%s/%s", prefix, names[i]) : lbox_xstrdup(names[i]);
        struct stat st;
        if (rc < 0) {
            free(path);
            continue;
        }
        if (strlen(path) >= PATH_MAX) {
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: path '%.100s...' is longer than Linux's %d "
                          "bytes; shorten it", src, path, PATH_MAX - 1);
        } else if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = lbox_err_errno(err, errno, "%s: cannot stat '%s'", src, path);
        } else if (check_entry(w, path, S_ISDIR(st.st_mode) ? CODE_DIR : S_ISLNK(st.st_mode)
                                       ? CODE_SYMLINK : CODE_FILE, err) < 0) {
            rc = -1; /* checked before going down: a tree too deep stops here */
        } else if ((S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) &&
                   ++w->listed_dirs > w->budget->dirs_limit - w->budget->dirs) {
            /* Each is listed once, so a tree of millions of them stops while being listed. */
            rc = dirs_error(w, w->listed_dirs, 1, err);
        } else if (S_ISREG(st.st_mode) && count_file(w, err) < 0) {
            rc = -1;
        } else if (S_ISREG(st.st_mode)) {
            code_list_add(l, path, CODE_FILE, code_sanitize_mode(st.st_mode, CODE_FILE),
                          (uint64_t)st.st_size, NULL);
            path = NULL;
        } else if (S_ISLNK(st.st_mode)) {
            char buf[PATH_MAX];
            ssize_t k = readlinkat(dfd, names[i], buf, sizeof buf - 1);
            if (k < 0) {
                rc = lbox_err_errno(err, errno, "%s: cannot read symlink '%s'", src, path);
            } else {
                buf[k] = '\0';
                rc = check_target(w, path, buf, err);
                if (rc == 0) {
                    code_list_add(l, path, CODE_SYMLINK, 0777, 0, lbox_xstrdup(buf));
                    path = NULL;
                }
            }
        } else if (S_ISDIR(st.st_mode)) {
            code_list_add(l, path, CODE_DIR, code_sanitize_mode(st.st_mode, CODE_DIR), 0, NULL);
            int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                rc = lbox_err_errno(err, errno, "%s: cannot open directory '%s'", src, path);
            else
                rc = dir_list_at(w, sub, path, l, err);
            if (sub >= 0)
                close(sub);
            path = NULL;
        } else {
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: '%s' is %s; function code may only hold files, "
                          "directories and symlinks (a zip cannot carry it either): remove it",
                          src, path, type_name(st.st_mode & S_IFMT));
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
    ssize_t k;
    do
        k = read(*(int *)ctx, buf, n);
    while (k < 0 && errno == EINTR);
    return k;
}

static const char *fd_read_error(void *ctx)
{
    (void)ctx;
    return strerror(errno);
}

static int dir_write(struct writer *w, int srcfd, const struct code_list *l,
                     struct lbox_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct code_entry *e = &l->v[i];
        if (e->type == CODE_DIR) {
            if (write_dir(w, e, err) < 0)
                return -1;
        } else if (e->type == CODE_SYMLINK) {
            if (write_symlink(w, e, err) < 0)
                return -1;
        } else {
            _cleanup_close_ int fd = openat2_fd(srcfd, e->path, O_RDONLY | O_NOFOLLOW,
                                                RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) < 0)
                return lbox_err_errno(err, errno, "%s: cannot open '%s'", w->input, e->path);
            if (!S_ISREG(st.st_mode))
                return lbox_err(err, LBOX_E_ARCHIVE, "%s: '%s' changed while it was being "
                                "copied; do not modify the code during the build", w->input,
                                e->path);
            if (write_file(w, e, fd_read, &fd, fd_read_error, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- the entry point ---- */

int lbox_code_install(const char *src, const char *dest, const char *root_label,
                      struct lbox_code_budget *budget, struct lbox_error *err)
{
    return lbox_code_install_as(src, src, dest, root_label, budget, err);
}

int lbox_code_install_as(const char *src, const char *shown, const char *dest,
                         const char *root_label, struct lbox_code_budget *budget,
                         struct lbox_error *err)
{
    struct stat st;
    if (stat(src, &st) < 0) {
        if (errno == ENOENT)
            return lbox_err(err, LBOX_E_NOTFOUND, "%s: no such file or directory; pass a "
                            "function directory or a .zip deployment package", shown);
        return lbox_err_errno(err, errno, "cannot read '%s'", shown);
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return lbox_err(err, LBOX_E_INVAL, "%s: neither a directory nor a .zip file", shown);

    struct writer w = { .rootfd = -1, .input = shown, .budget = budget,
                        .used_before = budget->used, .label = root_label,
                        .is_dir = S_ISDIR(st.st_mode) };
    for (const char *p = root_label; *p; p++)
        w.label_depth += *p == '/' && p[1] && p[1] != '/';
    w.rootfd = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (w.rootfd < 0)
        return lbox_err_errno(err, errno, "cannot open the staging directory '%s'", dest);

    struct code_list l = { 0 };
    int srcfd = -1, rc;
    if (S_ISDIR(st.st_mode)) {
        srcfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = srcfd < 0 ? lbox_err_errno(err, errno, "cannot open '%s'", shown)
                       : dir_list_at(&w, srcfd, "", &l, err);
    } else {
        rc = zip_list(&w, src, &l, err);
    }

    if (rc == 0) {
        uint64_t declared = 0;
        for (size_t i = 0; i < l.n; i++)
            declared += l.v[i].size;
        if (declared > budget->limit - budget->used || budget->used > budget->limit)
            rc = limit_error(&w, budget->used + declared, 0, err);
    }
    /* The directories a zip's paths imply count too: they are what a directory bomb is. */
    uint64_t dirs = rc == 0 ? count_dirs(&l) : 0;
    if (rc == 0 && (dirs > budget->dirs_limit - budget->dirs || budget->dirs > budget->dirs_limit))
        rc = dirs_error(&w, dirs, 0, err);
    if (rc == 0 && !S_ISDIR(st.st_mode))
        rc = zip_cross_check(&w, src, &l, err);
    if (rc == 0)
        rc = code_check_symlinks(&l, w.rootfd, root_label, shown, err);
    if (rc == 0)
        rc = S_ISDIR(st.st_mode) ? dir_write(&w, srcfd, &l, err) : zip_write(&w, src, &l, err);
    if (rc == 0)
        rc = apply_dir_modes(&w, &l, err);
    if (rc == 0) {
        budget->dirs += dirs;
        budget->files += w.listed_files;
    }

    code_list_free(&l);
    if (srcfd >= 0)
        close(srcfd);
    close(w.rootfd);
    return rc;
}
