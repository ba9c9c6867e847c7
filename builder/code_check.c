/* The checks run on a code source's entry list before anything is written: entry names,
 * permission bits, and where every symlink really points. */
#include "code_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "code.h"

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

/* ---- symlink resolution over "this input written on top of what dest holds" ----
 *
 * The writer opens an entry's parent with openat2(RESOLVE_BENEATH), which follows the links
 * already on disk: with d -> ., "d/d/x" is written as "x". So the check first places every
 * entry, in the writer's order, where it will really land (the "tree" below maps those
 * physical paths to what they hold, as the writer leaves them), then judges each link from
 * its physical directory in that final tree.
 *
 * The links already in dest (an earlier input's) are judged again in that same tree: an
 * input changes what they resolve to when it replaces or adds a name they go through (an
 * empty directory b made a link b -> . turns an earlier lnk -> b/.. into ./..). Judging
 * every link in the tree each input leaves means the last input's check covers the whole
 * finished tree, before that input writes a byte. */

enum resolved { R_INSIDE, R_OTHER_ROOT, R_ESCAPE, R_LOOP, R_NOTDIR };

enum kind { K_NONE, K_DIR, K_FILE, K_LINK };

struct node {
    char *path; /* physical, relative to dest; NULL for a free slot */
    enum kind kind;
    char *target; /* K_LINK only */
    bool changed; /* this input made the path hold something else than dest did */
};

/* Open addressing; targets are separate allocations, so a pointer to one stays valid while
 * the table grows (walk() holds one across lookups). */
struct tree {
    struct node *slot;
    size_t cap, used; /* cap is a power of two */
};

struct resolver {
    struct tree t;
    int rootfd;
    const char *label, *other; /* this root's image path; the other code root, or NULL */
    int links_left;
    const char *via; /* the first path this input changed that a walk met (a node's path) */
};

static size_t hash_path(const char *s)
{
    size_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct node *tree_slot(struct node *slot, size_t cap, const char *path)
{
    for (size_t i = hash_path(path) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!slot[i].path || strcmp(slot[i].path, path) == 0)
            return &slot[i];
}

static void tree_grow(struct tree *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    struct node *slot = lbox_xcalloc(cap, sizeof *slot);
    for (size_t i = 0; i < t->cap; i++)
        if (t->slot[i].path)
            *tree_slot(slot, cap, t->slot[i].path) = t->slot[i];
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
}

static struct node *tree_find(const struct tree *t, const char *path)
{
    if (!t->cap)
        return NULL;
    struct node *n = tree_slot(t->slot, t->cap, path);
    return n->path ? n : NULL;
}

/* What `path` holds from now on: a later write replaces an earlier one, as on disk. */
static struct node *tree_set(struct tree *t, const char *path, enum kind kind,
                             const char *target)
{
    if ((t->used + 1) * 2 > t->cap)
        tree_grow(t);
    struct node *n = tree_slot(t->slot, t->cap, path);
    if (!n->path) {
        n->path = lbox_xstrdup(path);
        t->used++;
    }
    free(n->target);
    n->kind = kind;
    n->target = target ? lbox_xstrdup(target) : NULL;
    return n;
}

static void tree_free(struct tree *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slot[i].path);
        free(t->slot[i].target);
    }
    free(t->slot);
    *t = (struct tree){ 0 };
}

/* What dest held at `path` before this input (its parents must be real directories there). */
static enum kind dest_kind(int rootfd, const char *path, char *target, size_t size)
{
    struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS };
    int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (fd < 0)
        return K_NONE;
    struct stat st;
    enum kind k = K_NONE;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            k = K_DIR;
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlinkat(fd, "", target, size - 1);
            if (n >= 0) {
                target[n] = '\0';
                k = K_LINK;
            }
        } else {
            k = K_FILE;
        }
    }
    close(fd);
    return k;
}

/* What the physical `path` holds: what this input wrote there so far, else what dest held
 * (remembered, so each path costs one system call). *target points into the tree. */
static enum kind lookup(struct resolver *r, const char *path, const char **target)
{
    struct node *n = tree_find(&r->t, path);
    if (!n) {
        char buf[PATH_MAX];
        enum kind k = r->rootfd < 0 ? K_NONE : dest_kind(r->rootfd, path, buf, sizeof buf);
        n = tree_set(&r->t, path, k, k == K_LINK ? buf : NULL);
    }
    if (n->changed && !r->via)
        r->via = n->path; /* node paths are separate allocations: stable as the table grows */
    *target = n->target;
    return n->kind;
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

        const char *target = NULL;
        enum kind k = lookup(r, cur, &target);
        if (k == K_LINK) {
            if (--r->links_left < 0)
                return R_LOOP;
            *len = old;
            cur[old] = '\0';
            enum resolved res = target[0] ? walk(r, cur, len, target) : R_ESCAPE;
            if (res == R_OTHER_ROOT)
                return has_dotdot(next) ? R_ESCAPE : R_OTHER_ROOT;
            if (res != R_INSIDE)
                return res;
        } else if (k == K_FILE && *next) {
            return R_NOTDIR; /* ENOTDIR when used: a broken path, not an escape */
        }
        p = next;
    }
    return R_INSIDE;
}

/* Where entry `e` lands (*out, malloc'd): its parent resolved as the writer's
 * openat2(RESOLVE_BENEATH) will, through the links the tree holds at that point. *out stays
 * NULL when a file stands in the way: the writer stops there (ENOTDIR). */
static int place(struct resolver *r, const struct code_entry *e, char *cur, char **out,
                 const char *input, struct lbox_error *err)
{
    *out = NULL;
    const char *slash = strrchr(e->path, '/');
    const char *base = slash ? slash + 1 : e->path;
    size_t len = 0;
    cur[0] = '\0';
    enum resolved res = R_INSIDE;
    if (slash) {
        char *parent = lbox_strdupf("%.*s", (int)(slash - e->path), e->path);
        r->links_left = CODE_MAX_SYMLINKS;
        res = walk(r, cur, &len, parent);
        free(parent);
    }
    if (res == R_NOTDIR)
        return 0;
    if (res == R_LOOP)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' is under a symlink that loops or "
                        "passes more than %d links; remove it or fix the chain", input, e->path,
                        CODE_MAX_SYMLINKS);
    if (res != R_INSIDE)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: entry '%s' would be written through a symlink "
                        "that leads outside %s; remove that link", input, e->path, r->label);
    *out = len ? lbox_strdupf("%s/%s", cur, base) : lbox_xstrdup(base);
    return 0;
}

/* Directory levels below / of the physical path `phys` under root `label`, counted as
 * code.c counts a name (a directory counts its own level). */
static size_t depth_of(const char *label, const char *phys, bool dir)
{
    size_t depth = dir;
    for (const char *p = label; *p; p++)
        depth += *p == '/' && p[1] && p[1] != '/';
    for (const char *p = phys; *p; p++)
        depth += *p == '/';
    return depth;
}

/* Places every entry in the writer's order, so that `r` ends holding the tree as written;
 * phys[i] is where entry i lands (NULL: never written). A name can be short and still land
 * deep, written through links: the depth limit holds for where it lands. */
static int place_all(struct resolver *r, const struct code_list *l, char **phys, char *cur,
                     const char *input, struct lbox_error *err)
{
    static const enum kind kinds[] = { [CODE_FILE] = K_FILE, [CODE_DIR] = K_DIR,
                                       [CODE_SYMLINK] = K_LINK };
    for (size_t i = 0; i < l->n; i++) {
        const struct code_entry *e = &l->v[i];
        if (e->type == CODE_SYMLINK && !e->target[0])
            return lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' has an empty target; "
                            "remove it", input, e->path);
        if (place(r, e, cur, &phys[i], input, err) < 0)
            return -1;
        if (!phys[i])
            continue;
        size_t depth = depth_of(r->label, phys[i], e->type == CODE_DIR);
        if (depth > LBOX_CODE_MAX_DEPTH)
            return lbox_err(err, LBOX_E_LIMIT, "%s: entry '%.200s' lands %zu directory levels "
                            "below / in the image, written through the symlinks in its path, "
                            "over lbox's limit of %d; flatten the tree", input, e->path, depth,
                            LBOX_CODE_MAX_DEPTH);
        /* A directory over a directory, a file over a file or a link over the same link
         * changes no resolution: only other changes can move an earlier input's links. */
        const char *old_target;
        enum kind old = lookup(r, phys[i], &old_target);
        bool changed = old != kinds[e->type] ||
                       (old == K_LINK && strcmp(old_target, e->target) != 0);
        struct node *n = tree_set(&r->t, phys[i], kinds[e->type],
                                  e->type == CODE_SYMLINK ? e->target : NULL);
        n->changed = n->changed || changed;
    }
    return 0;
}

/* Where the link at the physical `phys`, pointing at `target`, leads in the final tree; the
 * walk starts from the link's own directory, as the kernel's does. */
static enum resolved judge(struct resolver *r, const char *phys, const char *target, char *cur)
{
    const char *slash = strrchr(phys, '/');
    size_t len = slash ? (size_t)(slash - phys) : 0;
    memcpy(cur, phys, len);
    cur[len] = '\0';
    r->links_left = CODE_MAX_SYMLINKS;
    r->via = NULL;
    return walk(r, cur, &len, target);
}

/* Judges the link entry `e`, written at `phys`, in the final tree. */
static int check_link(struct resolver *r, const struct code_entry *e, const char *phys,
                      char *cur, const char *input, struct lbox_error *err)
{
    enum resolved res = judge(r, phys, e->target, cur);
    if (res == R_ESCAPE) {
        _cleanup_free_ char *moved = strcmp(phys, e->path) == 0
            ? lbox_xstrdup("")
            : lbox_strdupf(", which the links in its path make '%s'", phys);
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' -> '%s' points outside %s "
                        "(resolved from the link's own directory%s, following the links it "
                        "meets); code and layers may only link inside %s%s%s%s%s%s. Replace "
                        "the link with a copy of what it points to, or make it point inside "
                        "the package",
                        input, e->path, e->target, r->label, moved, r->label,
                        r->other ? " or " : "", r->other ? r->other : "",
                        r->other ? " (into the other one by an absolute path, such as '" : "",
                        r->other ? r->other : "", r->other ? "/x')" : "");
    }
    if (res == R_LOOP)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' -> '%s' loops or passes more "
                        "than %d links, so it can never be opened; remove it or fix the chain",
                        input, e->path, e->target, CODE_MAX_SYMLINKS);
    return 0;
}

static const char *kind_name(enum kind k)
{
    return k == K_LINK ? "a symlink" : k == K_DIR ? "a directory" : "a file";
}

/* Judges again, in the tree this input leaves, the link an earlier input left at `phys`:
 * still inside, unless this input replaced or added a name on its way. */
static int recheck_link(struct resolver *r, const char *phys, char *cur, const char *input,
                        struct lbox_error *err)
{
    const char *target;
    if (lookup(r, phys, &target) != K_LINK || tree_find(&r->t, phys)->changed)
        return 0; /* this input replaced the link itself: judged as one of its own */
    enum resolved res = judge(r, phys, target, cur);
    if (res != R_ESCAPE && res != R_LOOP)
        return 0;
    if (!r->via) /* not this input's doing: dest was changed behind lbox's back */
        return lbox_err(err, LBOX_E_ARCHIVE, "%s: symlink '%s' -> '%s', already in %s before "
                        "this input, %s; the staging directory was changed outside lbox: "
                        "build again", input, phys, target, r->label,
                        res == R_ESCAPE ? "points outside it" : "loops");
    const struct node *via = tree_find(&r->t, r->via);
    _cleanup_free_ char *outcome = res == R_ESCAPE
        ? lbox_strdupf("point outside %s (code and layers may only link inside %s%s%s)",
                       r->label, r->label, r->other ? " or " : "", r->other ? r->other : "")
        : lbox_strdupf("loop or pass more than %d links", CODE_MAX_SYMLINKS);
    return lbox_err(err, LBOX_E_ARCHIVE, "%s: installing it would make symlink '%s' -> '%s', "
                    "which an earlier input put in %s, %s: the link goes through '%s', which "
                    "this input makes %s. Leave '%s' out of this input, or make the earlier link "
                    "point inside without going through '%s'", input, phys, target, r->label,
                    outcome, via->path, kind_name(via->kind), via->path, via->path);
}

/* The symlinks under the directory `dfd` (physical paths from dest; `path` is a PATH_MAX
 * buffer holding this directory's, len bytes): what earlier inputs left, found without
 * following any link. */
static int dest_links_at(int dfd, char *path, size_t len, struct code_list *out,
                         struct lbox_error *err)
{
    size_t n = 0;
    char **names = lbox_dir_names_at(dfd, &n);
    if (!names)
        return lbox_err_errno(err, errno, "cannot read '%s' in the staging directory",
                              len ? path : ".");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t cl = strlen(names[i]);
        if (len + 1 + cl >= PATH_MAX) {
            rc = lbox_err(err, LBOX_E_IO, "a path under '%s' in the staging directory is "
                          "longer than %d bytes", len ? path : ".", PATH_MAX - 1);
            break;
        }
        size_t sub = len ? len + 1 + cl : cl;
        if (len)
            path[len] = '/';
        memcpy(path + (len ? len + 1 : 0), names[i], cl + 1);
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = lbox_err_errno(err, errno, "cannot stat '%s' in the staging directory", path);
        } else if (S_ISLNK(st.st_mode)) {
            code_list_add(out, lbox_xstrdup(path), CODE_SYMLINK, 0777, 0, NULL);
        } else if (S_ISDIR(st.st_mode)) {
            int fd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            rc = fd < 0 ? lbox_err_errno(err, errno, "cannot open '%s' in the staging "
                                         "directory", path)
                        : dest_links_at(fd, path, sub, out, err);
            if (fd >= 0)
                close(fd);
        }
        path[len] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int dest_links(int rootfd, struct code_list *out, struct lbox_error *err)
{
    if (rootfd < 0)
        return 0;
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot read the staging directory");
    char *path = lbox_xmalloc(PATH_MAX);
    path[0] = '\0';
    int rc = dest_links_at(fd, path, 0, out, err);
    free(path);
    close(fd);
    return rc;
}

int code_check_symlinks(const struct code_list *l, int rootfd, const char *root_label,
                        const char *input, struct lbox_error *err)
{
    size_t nlinks = 0;
    for (size_t i = 0; i < l->n; i++)
        nlinks += l->v[i].type == CODE_SYMLINK;
    struct code_list earlier = { 0 };
    if (dest_links(rootfd, &earlier, err) < 0) {
        code_list_free(&earlier);
        return -1;
    }
    if (!nlinks && !earlier.n)
        return 0; /* files and directories cannot leave dest: the writer keeps them beneath */

    const char *other = NULL;
    if (under(root_label, "/var/task"))
        other = "/opt";
    else if (under(root_label, "/opt"))
        other = "/var/task";
    struct resolver r = { { 0 }, rootfd, root_label, other, 0, NULL };
    char **phys = lbox_xcalloc(l->n, sizeof *phys);
    char *cur = lbox_xmalloc(PATH_MAX);

    int rc = place_all(&r, l, phys, cur, input, err);
    for (size_t i = 0; i < l->n && rc == 0; i++)
        if (l->v[i].type == CODE_SYMLINK && phys[i])
            rc = check_link(&r, &l->v[i], phys[i], cur, input, err);
    for (size_t i = 0; i < earlier.n && rc == 0; i++)
        rc = recheck_link(&r, earlier.v[i].path, cur, input, err);

    for (size_t i = 0; i < l->n; i++)
        free(phys[i]);
    free(phys);
    free(cur);
    tree_free(&r.t);
    code_list_free(&earlier);
    return rc;
}
