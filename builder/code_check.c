/* The checks run on a code source's entry list before anything is written: entry names,
 * permission bits, and where every symlink really points. */
#include "code_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/fsutil.h"

/* The kernel gives up after this many symlinks in one lookup (MAXSYMLINKS). */
#define CODE_MAX_SYMLINKS 40

void code_list_add(struct code_list *l, char *path, enum code_type type, mode_t mode,
                   uint64_t size, char *target)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = lbox_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (struct code_entry){ path, type, mode, size, target };
}

void code_list_free(struct code_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].target);
    }
    free(l->v);
    *l = (struct code_list){ 0 };
}

int code_path_normalize(const char *input, const char *name, char **out, struct lbox_error *err)
{
    *out = NULL;
    if (!name || !*name)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: an entry has an empty or unreadable name; "
                        "re-create the zip with names in UTF-8", input);
    if (name[0] == '/')
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' has an absolute path; a package may "
                        "only hold paths relative to its root: re-create it from inside the "
                        "function's directory (cd fn && zip -r ../fn.zip .)", input, name);
    size_t n = strlen(name);
    if (n >= PATH_MAX)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: an entry name is %zu bytes long, over Linux's "
                        "%d; shorten the path", input, n, PATH_MAX - 1);

    char *buf = lbox_xmalloc(n + 1);
    size_t len = 0;
    for (const char *p = name; *p;) {
        const char *e = strchrnul(p, '/');
        size_t cl = (size_t)(e - p);
        if (cl == 2 && p[0] == '.' && p[1] == '.') {
            free(buf);
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' has a '..' component and would "
                            "land outside the package root; remove it or re-create the zip from "
                            "inside the function's directory", input, name);
        }
        if (cl > NAME_MAX) {
            free(buf);
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' has a component over %d bytes; "
                            "shorten it", input, name, NAME_MAX);
        }
        if (cl && !(cl == 1 && p[0] == '.')) {
            if (len)
                buf[len++] = '/';
            memcpy(buf + len, p, cl);
            len += cl;
        }
        p = *e ? e + 1 : e;
    }
    buf[len] = '\0';
    if (!len) {
        free(buf);
        return 0;
    }
    *out = buf;
    return 0;
}

mode_t code_sanitize_mode(mode_t mode, enum code_type type)
{
    if (type == CODE_SYMLINK)
        return 0777;
    if ((mode & 0777) == 0)
        return type == CODE_DIR ? 0755 : 0644;
    return mode & 0755;
}

/* ---- symlink resolution over "this input written on top of what dest holds" ---- */

enum resolved { R_INSIDE, R_OTHER_ROOT, R_ESCAPE, R_LOOP };

struct resolver {
    const struct code_entry **byname; /* sorted by path, one (the last written) per path */
    size_t n;
    int rootfd;
    const char *label, *other; /* this root's image path; the other code root, or NULL */
    int links_left;
};

static int cmp_entry_ptr(const void *a, const void *b)
{
    const struct code_entry *x = *(const struct code_entry *const *)a;
    const struct code_entry *y = *(const struct code_entry *const *)b;
    int c = strcmp(x->path, y->path);
    /* Equal names keep list order, so the last one (the one left on disk) is found. */
    return c ? c : (x < y ? -1 : x > y);
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, (*(const struct code_entry *const *)elem)->path);
}

/* What `path` (all of whose parents are real directories) will be: a symlink (target in
 * *target, malloc'd), a file, a directory, or nothing. The input wins over dest's content. */
enum kind { K_NONE, K_DIR, K_FILE, K_LINK };

static enum kind lookup(struct resolver *r, const char *path, char **target)
{
    *target = NULL;
    const struct code_entry **e = bsearch(path, r->byname, r->n, sizeof *r->byname, cmp_key);
    if (e) {
        if ((*e)->type == CODE_SYMLINK) {
            *target = lbox_xstrdup((*e)->target);
            return K_LINK;
        }
        return (*e)->type == CODE_DIR ? K_DIR : K_FILE;
    }
    if (r->rootfd < 0)
        return K_NONE;
    struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
    int fd = (int)syscall(SYS_openat2, r->rootfd, path, &how, sizeof how);
    if (fd < 0)
        return K_NONE;
    struct stat st;
    enum kind k = K_NONE;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            k = K_DIR;
        } else if (S_ISLNK(st.st_mode)) {
            char buf[PATH_MAX];
            ssize_t n = readlinkat(fd, "", buf, sizeof buf - 1);
            if (n >= 0) {
                buf[n] = '\0';
                *target = lbox_xstrdup(buf);
                k = K_LINK;
            }
        } else {
            k = K_FILE;
        }
    }
    close(fd);
    return k;
}

/* "/opt/x" under "/opt" -> "x" ("" for "/opt" itself); NULL when not under it. */
static const char *under(const char *path, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0'))
        return NULL;
    return path + n;
}

static int has_dotdot(const char *p)
{
    for (; *p;) {
        const char *e = strchrnul(p, '/');
        if (e - p == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* Walks `path` from the directory `cur` (len bytes, "" = root) like the kernel, expanding
 * symlinks as it meets them; `cur` is a PATH_MAX buffer holding the physical location. */
static enum resolved walk(struct resolver *r, char *cur, size_t *len, const char *path)
{
    if (path[0] == '/') {
        const char *rest = under(path, r->label);
        if (rest) {
            *len = 0;
            cur[0] = '\0';
            path = rest;
        } else if (r->other && (rest = under(path, r->other)) && !has_dotdot(rest)) {
            return R_OTHER_ROOT;
        } else {
            return R_ESCAPE;
        }
    }
    for (const char *p = path; *p;) {
        const char *e = strchrnul(p, '/');
        size_t cl = (size_t)(e - p);
        const char *next = *e ? e + 1 : e;
        if (cl == 0 || (cl == 1 && p[0] == '.')) {
            p = next;
            continue;
        }
        if (cl == 2 && p[0] == '.' && p[1] == '.') {
            if (*len == 0)
                return R_ESCAPE;
            char *slash = memrchr(cur, '/', *len);
            *len = slash ? (size_t)(slash - cur) : 0;
            cur[*len] = '\0';
            p = next;
            continue;
        }
        size_t old = *len;
        if (old + 1 + cl >= PATH_MAX)
            return R_LOOP;
        if (old)
            cur[(*len)++] = '/';
        memcpy(cur + *len, p, cl);
        *len += cl;
        cur[*len] = '\0';

        char *target = NULL;
        enum kind k = lookup(r, cur, &target);
        if (k == K_LINK) {
            if (--r->links_left < 0) {
                free(target);
                return R_LOOP;
            }
            *len = old;
            cur[old] = '\0';
            enum resolved res = target[0] ? walk(r, cur, len, target) : R_ESCAPE;
            free(target);
            if (res == R_OTHER_ROOT)
                return has_dotdot(next) ? R_ESCAPE : R_OTHER_ROOT;
            if (res != R_INSIDE)
                return res;
        } else if (k == K_FILE && *next) {
            return R_INSIDE; /* ENOTDIR when used: a broken path, not an escape */
        }
        p = next;
    }
    return R_INSIDE;
}

int code_check_symlinks(const struct code_list *l, int rootfd, const char *root_label,
                        const char *input, struct lbox_error *err)
{
    size_t nlinks = 0;
    for (size_t i = 0; i < l->n; i++)
        nlinks += l->v[i].type == CODE_SYMLINK;
    if (!nlinks)
        return 0;

    const struct code_entry **byname = lbox_xcalloc(l->n ? l->n : 1, sizeof *byname);
    for (size_t i = 0; i < l->n; i++)
        byname[i] = &l->v[i];
    qsort(byname, l->n, sizeof *byname, cmp_entry_ptr);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (i + 1 < l->n && strcmp(byname[i]->path, byname[i + 1]->path) == 0)
            continue;
        byname[n++] = byname[i];
    }

    const char *other = NULL;
    if (under(root_label, "/var/task"))
        other = "/opt";
    else if (under(root_label, "/opt"))
        other = "/var/task";
    struct resolver r = { byname, n, rootfd, root_label, other, 0 };

    int rc = 0;
    char *cur = lbox_xmalloc(PATH_MAX);
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const struct code_entry *e = &l->v[i];
        if (e->type != CODE_SYMLINK)
            continue;
        if (!e->target[0]) {
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' has an empty target; remove it",
                          input, e->path);
            break;
        }
        const char *slash = strrchr(e->path, '/');
        size_t len = slash ? (size_t)(slash - e->path) : 0;
        memcpy(cur, e->path, len);
        cur[len] = '\0';
        r.links_left = CODE_MAX_SYMLINKS;
        enum resolved res = walk(&r, cur, &len, e->target);
        if (res == R_ESCAPE)
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' -> '%s' points outside %s "
                          "(resolved from the link's own directory, following the links it "
                          "meets); code and layers may only link inside %s%s%s. Replace the link "
                          "with a copy of what it points to, or make it point inside the package",
                          input, e->path, e->target, root_label, root_label,
                          other ? " or " : "", other ? other : "");
        else if (res == R_LOOP)
            rc = lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' -> '%s' loops or passes more "
                          "than %d links, so it can never be opened; remove it or fix the chain",
                          input, e->path, e->target, CODE_MAX_SYMLINKS);
    }
    free(cur);
    free(byname);
    return rc;
}
