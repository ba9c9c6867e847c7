#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "ca_certs.h"
#include "code.h"
#include "debian.h"
#include "esm_links.h"
#include "layout.h"
#include "lint.h"
#include "npm_install.h"
#include "recipe.h"
#include "sdk.h"
#include "store.h"

/* Bump when what a layer holds for the same inputs changes (layout files, node subset). */
#define BASE_LAYOUT_VERSION "lbox-base-4"
#define NODE_LAYOUT_VERSION "lbox-node-1"
#define RUNTIME_LAYOUT_VERSION "lbox-runtime-4"

struct build {
    struct lbox_fetcher *f;
    const struct lbox_build_opts *o;
    struct lbox_recipe recipe;
    struct lbox_store *store;
    char *stage;          /* temporary folder, removed at the end */
    int stage_lock;       /* held on stage: a later build's sweep leaves it alone */
    char *layer_cache;    /* <cache>/layers: key -> layer descriptor */
    int64_t epoch;
    struct lbox_build_result *res;
};

/* ---- layer cache: <cache>/layers/<key>-<epoch>.json = {"digest","diff_id","size"} and
 * <key>-<epoch>.blob = the layer itself (a hard link to the store's blob when they share a file
 * system). A store that lacks the blob (another store, or one emptied by `lbox rm`) gets a
 * verified copy, so only the first build on a machine pays for compressing a layer. ---- */

/* <cache>/layers/<key>-<epoch>.<ext>: every entry of a layer has the build's epoch
 * (SOURCE_DATE_EPOCH) as its mtime, so a layer made under another epoch is another layer. */
static char *layer_cache_file(const struct build *b, const char *key, const char *ext)
{
    return lbox_strdupf("%s/%s-%lld.%s", b->layer_cache, key, (long long)b->epoch, ext);
}

/* 1: reused (*l filled); 0: not cached; -1: the store is full, so that making the layer
 * again would only fail the same way, later, and blaming the wrong step. */
static int layer_cache_get(struct build *b, const char *key, struct lbox_layer *l,
                           struct lbox_error *err)
{
    _cleanup_free_ char *p = layer_cache_file(b, key, "json");
    json_t *j = json_load_file(p, 0, NULL);
    if (!j)
        return 0;
    const char *d = json_string_value(json_object_get(j, "digest"));
    const char *id = json_string_value(json_object_get(j, "diff_id"));
    int rc = d && id && strlen(d) < sizeof l->digest && strlen(id) < sizeof l->diff_id ? 1 : 0;
    if (rc && !lbox_store_has_blob(b->store, d)) {
        _cleanup_free_ char *blob = layer_cache_file(b, key, "blob");
        struct lbox_error perr = {0};
        /* The copy is hashed on the way in: a damaged cache blob is never stored. */
        if (access(blob, R_OK) < 0)
            rc = 0;
        else if (lbox_store_put_blob_file(b->store, blob, d, false, &perr) < 0)
            rc = perr.code == LBOX_E_NOSPC ? -1 : 0;
        if (rc < 0 && err)
            *err = perr;
    }
    if (rc > 0) {
        strcpy(l->digest, d);
        strcpy(l->diff_id, id);
        l->size = (uint64_t)json_integer_value(json_object_get(j, "size"));
    }
    json_decref(j);
    return rc;
}

/* What the layer cache no longer needs: its temporary names, <key>-<epoch>.blob.tmp-* and
 * <key>-<epoch>.json.tmp-* (and the .tmp.<pid> of lbox before locks), and the entries of
 * lboxes before the epoch was in the name, <key>.json and <key>.blob, never read again. */
static bool is_layer_leftover(const char *name)
{
    size_t hex = strspn(name, "0123456789abcdef");
    return strstr(name, ".tmp") != NULL ||
           (hex == 64 && (!strcmp(name + hex, ".json") || !strcmp(name + hex, ".blob")));
}

/* Puts `path` in place from a locked temporary name (cache_temp.h), so that a build killed half
 * way leaves only what the next build's sweep deletes. Either `link_from` (a hard link, no
 * copy, when it shares the file system) or a copy of it, or `data`. */
static int cache_put(const char *path, const char *link_from, const char *data, size_t len)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int lock = -1;
    if (link_from) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tmp = lbox_strdupf("%s.tmp-%d-%ld", path, (int)getpid(), ts.tv_nsec);
        if (link(link_from, tmp) == 0 && lbox_cache_lock_temp(tmp, &lock) < 0)
            return -1; /* a sweep took it between the link and the lock: it deletes it */
    }
    int r = 0;
    if (lock < 0) {
        free(tmp);
        tmp = lbox_strdupf("%s.tmp-XXXXXX", path);
        if (lbox_cache_temp(tmp, false, &lock, NULL) < 0)
            return -1;
        if (link_from) {
            _cleanup_close_ int in = open(link_from, O_RDONLY | O_CLOEXEC);
            r = in < 0 ? -1 : lbox_copy_fd(in, lock);
        } else {
            r = lbox_write_all(lock, data, len);
        }
        if (r == 0)
            r = fchmod(lock, 0644);
    }
    if (r == 0)
        r = rename(tmp, path);
    if (r < 0)
        unlink(tmp);
    return r;
}

/* A failed cache write only costs a rebuild next time, so errors are ignored here. */
static void layer_cache_put(struct build *b, const char *key, const struct lbox_layer *l)
{
    _cleanup_free_ char *blob = layer_cache_file(b, key, "blob");
    _cleanup_free_ char *stored = lbox_store_blob_path(b->store, l->digest);
    cache_put(blob, stored, NULL, 0);

    json_t *j = json_pack("{s:s, s:s, s:I}", "digest", l->digest, "diff_id", l->diff_id, "size",
                          (json_int_t)l->size);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    _cleanup_free_ char *p = layer_cache_file(b, key, "json");
    cache_put(p, NULL, text, strlen(text));
    free(text);
    json_decref(j);
}

static struct lbox_build_layer *next_layer(struct build *b, const char *name)
{
    struct lbox_build_layer *l = &b->res->layers[b->res->nlayers++];
    l->name = name;
    return l;
}

/* Writes <stage>/<name> as a layer (and caches it under key when key is non-NULL). */
static int commit_layer(struct build *b, struct lbox_build_layer *l, const char *dir,
                        const char *key, struct lbox_error *err)
{
    if (lbox_layer_write_dir(b->store, dir, b->epoch, &l->layer, err) < 0)
        return lbox_err_prefix(err, "writing the %s layer", l->name);
    if (key)
        layer_cache_put(b, key, &l->layer);
    return 0;
}

static char *stage_dir(struct build *b, const char *name, struct lbox_error *err)
{
    char *d = lbox_path_join(b->stage, name);
    if (lbox_mkdir_p(d, 0755, err) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

/* ---- base: Debian userland + Lambda layout ---- */

static int build_base(struct build *b, struct lbox_error *err)
{
    struct lbox_recipe *r = &b->recipe;
    struct lbox_deb_source src = {
        .suite = r->debian_suite,
        .components = r->debian_components,
        .ncomponents = r->ndebian_components,
        .arch = (char *)lbox_arch_debian(r->arch),
    };
    if (lbox_debian_pick_mirror(b->o->debian_mirror, r->debian_suite, &src.mirror, err) < 0)
        return -1;

    /* The key rests on the Release file: same Release + same package list ⇒ the same
     * resolution, so a warm build need not read the (large) Packages index at all. */
    int rc = -1;
    _cleanup_free_ char *release_url =
        lbox_strdupf("%s/dists/%s/Release", src.mirror, src.suite);
    _cleanup_free_ char *release = NULL;
    char release_sha[65], key[65];
    struct lbox_deb_set set = {0};
    char *dir = NULL, *manifest = NULL;
    struct lbox_build_layer *l = next_layer(b, "base");
    if (lbox_fetch_unpinned(b->f, release_url, b->o->index_max_age_s, LBOX_DEBIAN_MIRROR_HINT,
                            &release, err) < 0 ||
        lbox_sha256_file(release, release_sha, err) < 0)
        goto out;
    {
        struct lbox_hash *h = lbox_hash_new("sha256");
        const char *parts[] = {BASE_LAYOUT_VERSION, r->arch, release_sha};
        for (size_t i = 0; i < 3; i++)
            lbox_hash_update(h, parts[i], strlen(parts[i]) + 1);
        for (size_t i = 0; i < r->npackages; i++)
            lbox_hash_update(h, r->packages[i], strlen(r->packages[i]) + 1);
        lbox_hash_final_hex(h, key);
    }
    int hit = layer_cache_get(b, key, &l->layer, err);
    if (hit < 0)
        goto out;
    if (hit > 0) {
        l->cached = true;
        rc = 0;
        goto out;
    }
    dir = stage_dir(b, "base", err);
    manifest = dir ? lbox_path_join(dir, "var/lib/lbox/packages.txt") : NULL;
    if (!dir ||
        lbox_debian_resolve(b->f, &src, (const char *const *)r->packages, r->npackages,
                            b->o->index_max_age_s, &set, err) < 0 ||
        lbox_debian_install(b->f, &src, &set, dir, err) < 0 || lbox_layout_base(dir, err) < 0 ||
        lbox_deb_set_write_manifest(&set, manifest, err) < 0 ||
        commit_layer(b, l, dir, key, err) < 0)
        goto out;
    rc = 0;
out:
    lbox_deb_set_free(&set);
    free(src.mirror);
    free(dir);
    free(manifest);
    return rc;
}

/* ---- node: /var/lang ---- */

static int build_node(struct build *b, struct lbox_error *err)
{
    struct lbox_node_archive a;
    struct lbox_node_opts no = b->o->node;
    if (!no.npm_registry)
        no.npm_registry = b->o->npm_registry;
    if (lbox_node_fetch(b->f, &b->recipe, &no, &a, err) < 0)
        return -1;
    b->res->node_from = lbox_xstrdup(a.from == LBOX_NODE_DIST ? "release tarball" : "npm package");
    char key[65];
    _cleanup_free_ char *k = lbox_strdupf("%s %s %d", NODE_LAYOUT_VERSION, a.digest, no.with_npm);
    lbox_sha256_hex(k, strlen(k), key);
    struct lbox_build_layer *l = next_layer(b, "node");
    int rc = 0, hit = layer_cache_get(b, key, &l->layer, err);
    if (hit < 0) {
        rc = -1;
    } else if (hit > 0) {
        l->cached = true;
    } else {
        _cleanup_free_ char *dir = stage_dir(b, "node", err);
        rc = (!dir || lbox_node_install(&a, dir, no.with_npm, err) < 0 ||
              commit_layer(b, l, dir, key, err) < 0) ? -1 : 0;
    }
    lbox_node_archive_free(&a);
    return rc;
}

/* ---- runtime: the runtime client and the AWS SDK ---- */

/* Hashes a tree's relative paths, modes and contents in sorted order. */
static int hash_tree(struct lbox_hash *h, const char *root, const char *rel, struct lbox_error *err)
{
    _cleanup_free_ char *path = rel[0] ? lbox_path_join(root, rel) : lbox_xstrdup(root);
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : lbox_err_errno(err, errno, "cannot read %s", path);
    char head[64];
    snprintf(head, sizeof head, "%o", (unsigned)st.st_mode);
    lbox_hash_update(h, rel, strlen(rel) + 1);
    lbox_hash_update(h, head, strlen(head) + 1);
    if (S_ISREG(st.st_mode)) {
        char *data = NULL;
        size_t len = 0;
        if (lbox_read_file(path, 0, &data, &len, err) < 0)
            return -1;
        lbox_hash_update(h, data, len);
        free(data);
    } else if (S_ISLNK(st.st_mode)) {
        char t[4096];
        ssize_t n = readlink(path, t, sizeof t);
        if (n > 0)
            lbox_hash_update(h, t, (size_t)n);
    } else if (S_ISDIR(st.st_mode)) {
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, alphasort);
        if (n < 0)
            return lbox_err_errno(err, errno, "cannot read %s", path);
        int rc = 0;
        for (int i = 0; i < n; i++) {
            const char *nm = names[i]->d_name;
            if (rc == 0 && strcmp(nm, ".") && strcmp(nm, "..")) {
                _cleanup_free_ char *sub = rel[0] ? lbox_strdupf("%s/%s", rel, nm) : lbox_xstrdup(nm);
                rc = hash_tree(h, root, sub, err);
            }
            free(names[i]);
        }
        free(names);
        return rc;
    }
    return 0;
}

static int build_runtime(struct build *b, struct lbox_error *err)
{
    struct lbox_recipe *r = &b->recipe;
    _cleanup_free_ char *client = lbox_path_join(r->dir, r->runtime_client);
    _cleanup_free_ char *lock = r->sdk_lock ? lbox_path_join(r->dir, r->sdk_lock) : NULL;
    _cleanup_free_ char *roots =
        r->node_root_certs ? lbox_path_join(r->dir, r->node_root_certs) : NULL;
    bool have_lock = lock && access(lock, R_OK) == 0;
    /* ca-cert.pem is made from the base layer's certificates: the base is the first layer. */
    const char *base_digest = b->res->layers[0].layer.digest;

    char key[129];
    struct lbox_hash *h = lbox_hash_new("sha256");
    lbox_hash_update(h, RUNTIME_LAYOUT_VERSION, sizeof RUNTIME_LAYOUT_VERSION);
    lbox_hash_update(h, r->runtime, strlen(r->runtime) + 1);
    lbox_hash_update(h, base_digest, strlen(base_digest) + 1);
    lbox_hash_update(h, r->esm_node_path ? "esm" : "", r->esm_node_path ? 4 : 1);
    if (hash_tree(h, client, "", err) < 0 || (have_lock && hash_tree(h, lock, "", err) < 0) ||
        (roots && hash_tree(h, roots, "", err) < 0)) {
        lbox_hash_free(h);
        return -1;
    }
    lbox_hash_final_hex(h, key);

    struct lbox_build_layer *l = next_layer(b, "runtime");
    int hit = layer_cache_get(b, key, &l->layer, err);
    if (hit != 0) {
        l->cached = hit > 0;
        return hit > 0 ? 0 : -1;
    }
    _cleanup_free_ char *dir = stage_dir(b, "runtime", err);
    if (!dir || lbox_layout_runtime(dir, client, r->runtime, err) < 0)
        return -1;
    _cleanup_free_ char *base_blob = lbox_store_blob_path(b->store, base_digest);
    _cleanup_free_ char *ca = lbox_path_join(dir, "var/runtime/ca-cert.pem");
    if (lbox_ca_extra_certs(base_blob, roots, ca, err) < 0)
        return lbox_err_prefix(err, "making /var/runtime/ca-cert.pem");
    if (have_lock && lbox_sdk_install(b->f, lock, b->o->npm_registry, dir, err) < 0)
        return -1;
    const char *sdk[] = {"var/runtime/node_modules"};
    if (r->esm_node_path && lbox_esm_links(dir, sdk, 1, err) < 0)
        return -1;
    return commit_layer(b, l, dir, key, err);
}

/* ---- opt and task: the user's layers and code ---- */

static void add_warning(struct lbox_build_result *res, const char *text)
{
    res->warnings = lbox_xrealloc(res->warnings, (res->nwarnings + 1) * sizeof(char *));
    res->warnings[res->nwarnings++] = lbox_xstrdup(text);
}

static int add_lint(struct build *b, const char *root, struct lbox_error *err)
{
    struct lbox_lint_finding *fs = NULL;
    size_t n = 0;
    if (lbox_lint_tree(root, b->recipe.arch, &fs, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rel = fs[i].path;
        size_t rl = strlen(root);
        if (!strncmp(rel, root, rl))
            rel += rl;
        if (fs[i].severity >= 2 && rc == 0)
            rc = lbox_err(err, LBOX_E_INVAL, "%s: %s", rel, fs[i].message);
        else if (fs[i].severity < 2) {
            _cleanup_free_ char *w = lbox_strdupf("%s: %s", rel, fs[i].message);
            add_warning(b->res, w);
        }
    }
    lbox_lint_findings_free(fs, n);
    return rc;
}

static int build_code(struct build *b, struct lbox_error *err)
{
    const struct lbox_build_opts *o = b->o;
    if (o->nlayers > LBOX_CODE_MAX_LAYERS)
        return lbox_err(err, LBOX_E_LIMIT, "%zu layers given; Lambda allows at most %d",
                        o->nlayers, LBOX_CODE_MAX_LAYERS);
    struct lbox_code_budget budget = LBOX_CODE_BUDGET_INIT;
    if (o->nlayers) {
        _cleanup_free_ char *dir = stage_dir(b, "opt", err);
        _cleanup_free_ char *opt = dir ? lbox_path_join(dir, "opt") : NULL;
        if (!dir || lbox_mkdir_p(opt, 0755, err) < 0)
            return -1;
        for (size_t i = 0; i < o->nlayers; i++)
            if (lbox_code_install(o->layers[i], opt, "/opt", &budget, err) < 0)
                return -1; /* the message names the input already */
        /* The layers' packages, in NODE_PATH's order, over the runtime's SDK (esm_links.h). */
        _cleanup_free_ char *versioned =
            lbox_strdupf("opt/nodejs/node%d/node_modules", b->recipe.node_major);
        const char *layer_dirs[] = {versioned, "opt/nodejs/node_modules"};
        if (b->recipe.esm_node_path && lbox_esm_links(dir, layer_dirs, 2, err) < 0)
            return -1;
        if (add_lint(b, dir, err) < 0 || commit_layer(b, next_layer(b, "opt"), dir, NULL, err) < 0)
            return -1;
    }
    /* --npm-install: dependencies installed for the target in a build sandbox; its output
     * folder is the code from here on (so the lint sees the compiled addons). */
    const char *code = o->code;
    _cleanup_free_ char *installed = NULL;
    if (o->npm_install) {
        struct lbox_npm_install_opts ni = {
            .runtime = b->recipe.runtime, .arch = b->recipe.arch, .code = o->code,
            .node = &o->node, .npm_registry = o->npm_registry,
            .debian_mirror = o->debian_mirror, .index_max_age_s = o->index_max_age_s,
            .work_dir = b->stage, .log_fd = o->npm_log_fd, .budget = &budget,
        };
        if (lbox_npm_install(b->f, &ni, &installed, err) < 0)
            return -1;
        code = installed;
    }
    _cleanup_free_ char *dir = stage_dir(b, "task", err);
    _cleanup_free_ char *task = dir ? lbox_path_join(dir, "var/task") : NULL;
    if (!dir || lbox_mkdir_p(task, 0755, err) < 0)
        return -1;
    /* npm's output is lbox's staging copy: messages name the user's --code instead. */
    _cleanup_free_ char *shown =
        installed ? lbox_strdupf("%s (with what npm installed)", o->code) : NULL;
    if (lbox_code_install_as(code, shown ? shown : code, task, "/var/task", &budget, err) < 0)
        return -1;
    if (add_lint(b, dir, err) < 0)
        return -1;
    return commit_layer(b, next_layer(b, "task"), dir, NULL, err);
}

/* ---- the whole build ---- */

/* The tag of a build without --tag: the code's folder or zip name (the folder's own name
 * for "." or ".."), made a valid image name: lowercase, any other character a single '-',
 * starting and ending with a letter or digit; "function" when nothing is left. */
static char *default_tag(const char *code, const char *runtime, const char *arch)
{
    _cleanup_free_ char *real = realpath(code, NULL);
    _cleanup_free_ char *c = lbox_xstrdup(real ? real : code);
    size_t n = strlen(c);
    while (n > 1 && c[n - 1] == '/')
        c[--n] = '\0';
    const char *base = strrchr(c, '/') ? strrchr(c, '/') + 1 : c;
    char *name = lbox_xstrdup(base);
    size_t l = strlen(name);
    if (l > 4 && !strcmp(name + l - 4, ".zip"))
        name[l - 4] = '\0';
    size_t out = 0;
    for (const char *p = name; *p && out < 64; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && ch != '-' && ch != '_' && ch != '.')
            ch = '-';
        if (!alnum && (out == 0 || !((name[out - 1] >= 'a' && name[out - 1] <= 'z') ||
                                     (name[out - 1] >= '0' && name[out - 1] <= '9'))))
            continue; /* no separator first, none doubled */
        name[out++] = ch;
    }
    while (out > 0 && !((name[out - 1] >= 'a' && name[out - 1] <= 'z') ||
                        (name[out - 1] >= '0' && name[out - 1] <= '9')))
        out--;
    name[out] = '\0';
    char *tag = lbox_strdupf("%s:%s-%s", out ? name : "function", runtime, arch);
    free(name);
    return tag;
}

/* Two builds of one tag at once would race on the tag; the second is told plainly. */
/* One build per tag at a time: store/locks/build-<hash of the tag>.lock, deleted when the
 * build ends (lbox_cache_lock_file). Older lboxes left theirs for ever: those nobody holds
 * go now. */
static bool is_build_lock(const char *name)
{
    size_t n = strlen(name);
    return !strncmp(name, "build-", 6) && n > 11 && !strcmp(name + n - 5, ".lock");
}

static int lock_tag(struct build *b, const char *ref, int *fd, char **path,
                    struct lbox_error *err)
{
    _cleanup_free_ char *dir = lbox_path_join(lbox_store_dir(b->store), "locks");
    if (lbox_mkdir_p(dir, 0755, err) < 0)
        return -1;
    lbox_cache_sweep(dir, is_build_lock);
    char h[65];
    lbox_sha256_hex(ref, strlen(ref), h);
    *path = lbox_strdupf("%s/build-%.16s.lock", dir, h);
    int r = lbox_cache_lock_file(*path, fd, err);
    if (r == 1)
        return lbox_err(err, LBOX_E_BUSY,
                        "another lbox build of %s is running; wait for it to finish or build "
                        "under another --tag", ref);
    return r;
}

/* The staging folders of builds under <cache>/tmp (matrix-* folders there are not ours). */
static bool is_stage(const char *name) { return !strncmp(name, "build-", 6); }

/* What builds that were killed (Ctrl-C, kill -9, a crash, a power cut) left in the cache:
 * staging folders of hundreds of MB, partial downloads, half-copied cached layers. Their
 * makers hold locks on them while they live (cache_temp.h), so a running build's are kept. */
static void sweep_leftovers(struct lbox_fetcher *f, const char *tmproot, const char *layer_cache)
{
    lbox_cache_sweep(tmproot, is_stage);
    lbox_cache_sweep(layer_cache, is_layer_leftover);
    lbox_fetch_sweep(f);
}

/* Some writers (libarchive's disk writer among them) report a full disk only as "Write
 * failed": when the cache's file system has no room left, say so, and where it is. */
static void hint_disk_full(const char *stage, const char *cache, struct lbox_error *err)
{
    struct statvfs sv;
    /* A "No space left" about a file of the code reads like the user's own disk: say which
     * disk it is, unless a message already did. */
    if (!err || (err->code != LBOX_E_IO && err->code != LBOX_E_NOSPC) ||
        strstr(err->msg, "XDG_CACHE_HOME") || statvfs(stage, &sv) < 0)
        return;
    bool no_blocks = (unsigned long long)sv.f_bavail * sv.f_frsize < (1ull << 20);
    bool no_inodes = sv.f_files > 0 && sv.f_favail == 0;
    if (!no_blocks && !no_inodes)
        return;
    /* The generic hint lbox_err_errno gave a full disk gives way to this precise one. */
    static const char generic[] = " (free some disk space and try again)";
    char *g = strstr(err->msg, generic);
    if (g)
        memmove(g, g + sizeof generic - 1, strlen(g + sizeof generic - 1) + 1);
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, " (the full disk is the one of lbox's cache, "
             "%s: free some space there, or set XDG_CACHE_HOME to a folder on a larger disk)",
             cache);
    err->code = LBOX_E_NOSPC;
}

/* The image's time: SOURCE_DATE_EPOCH when set (reproducible-builds.org: a malformed one
 * is an error), else the recipe's. Up to the end of year 9999, which RFC 3339 can write. */
#define MAX_EPOCH 253402300799LL

static int build_epoch(const struct lbox_recipe *r, int64_t *epoch, struct lbox_error *err)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    *epoch = r->source_date_epoch;
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < 0 || v > MAX_EPOCH || !(*s >= '0' && *s <= '9'))
        return lbox_err(err, LBOX_E_INVAL,
                        "SOURCE_DATE_EPOCH '%.40s' is not a time lbox can write: give seconds "
                        "since 1970 (0 to %lld), or unset it",
                        s, MAX_EPOCH);
    *epoch = v;
    return 0;
}

int lbox_build_check_handler(const char *h, struct lbox_error *err)
{
    size_t n = strlen(h);
    bool space = false;
    for (const char *p = h; *p; p++)
        space |= *p == ' ' || (*p >= '\t' && *p <= '\r');
    if (n == 0 || n > 128 || space)
        return lbox_err(err, LBOX_E_INVAL,
                        "--handler must be 1 to 128 characters without spaces, as Lambda "
                        "takes it (file.function, such as index.handler)");
    return 0;
}

/* Whether path lies in folder root (both resolved). */
static bool inside(const char *path, const char *root)
{
    _cleanup_free_ char *p = realpath(path, NULL), *r = realpath(root, NULL);
    size_t n = r ? strlen(r) : 0;
    return p && r && !strncmp(p, r, n) && (p[n] == '/' || p[n] == '\0' || n == 1);
}

/* -o must not overwrite what the build reads (--code fn.zip -o fn.zip) nor land in lbox's
 * own store or cache, whose files it would replace. */
static int check_output_apart(struct lbox_fetcher *f, const struct lbox_build_opts *o,
                              struct lbox_error *err)
{
    struct stat out, in;
    if (stat(o->output, &out) == 0) {
        const char *inputs[1 + 64];
        size_t n = 0;
        inputs[n++] = o->code;
        for (size_t i = 0; i < o->nlayers && n < sizeof inputs / sizeof *inputs; i++)
            inputs[n++] = o->layers[i];
        for (size_t i = 0; i < n; i++)
            if (stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
                return lbox_err(err, LBOX_E_INVAL, "-o %s is %s itself, which the build reads: "
                                "give another output path", o->output, inputs[i]);
    }
    const char *slash = strrchr(o->output, '/');
    _cleanup_free_ char *dir = slash ? lbox_strdupf("%.*s", (int)(slash - o->output + 1),
                                                    o->output)
                                     : lbox_xstrdup(".");
    _cleanup_free_ char *data = lbox_data_dir();
    const char *roots[] = {o->store_dir ? o->store_dir : data, f->cache_dir};
    for (size_t i = 0; i < 2; i++)
        if (roots[i] && inside(dir, roots[i]))
            return lbox_err(err, LBOX_E_INVAL, "-o %s is inside lbox's %s (%s), whose files "
                            "lbox manages: write the image somewhere else", o->output,
                            i == 0 ? "store" : "cache", roots[i]);
    return 0;
}

int lbox_build(struct lbox_fetcher *f, const struct lbox_build_opts *o,
               struct lbox_build_result *res, struct lbox_error *err)
{
    memset(res, 0, sizeof *res);
    if (!o->code)
        return lbox_err(err, LBOX_E_INVAL, "--code is required: a directory or a .zip file");
    if (o->handler && lbox_build_check_handler(o->handler, err) < 0)
        return -1;
    /* What can be refused is refused before any work: a bad tag, an -o that cannot be
     * written (else it fails after the build, with the tag already moved). */
    _cleanup_free_ char *tag = o->tag ? lbox_ref_normalize(o->tag, err) : NULL;
    if (o->tag && !tag)
        return lbox_err_prefix(err, "--tag");
    if (o->output && (lbox_export_check_target(o->output, o->format, err) < 0 ||
                      check_output_apart(f, o, err) < 0))
        return -1;
    struct build b = {.f = f, .o = o, .res = res, .stage_lock = -1};
    const char *arch = o->arch ? o->arch : lbox_arch_host();
    if (lbox_recipe_load(o->runtime, arch, &b.recipe, err) < 0)
        return -1;
    struct stat st;
    if (stat(o->code, &st) < 0) {
        lbox_recipe_free(&b.recipe);
        return lbox_err_errno(err, errno, "cannot read --code %s", o->code);
    }
    for (size_t i = 0; i < o->nlayers; i++)
        if (stat(o->layers[i], &st) < 0) {
            lbox_recipe_free(&b.recipe);
            return lbox_err_errno(err, errno, "cannot read --layer %s", o->layers[i]);
        }

    int rc = -1, lock_fd = -1;
    char *lock_path = NULL;
    if (build_epoch(&b.recipe, &b.epoch, err) < 0) {
        lbox_recipe_free(&b.recipe);
        return -1;
    }
    res->runtime = lbox_xstrdup(b.recipe.runtime);
    res->arch = lbox_xstrdup(b.recipe.arch);
    /* Normalised ("name:tag"), so the tag's build lock and the store agree on its name. */
    res->ref = tag ? lbox_xstrdup(tag) : default_tag(o->code, b.recipe.runtime, b.recipe.arch);
    if (!strchr(res->ref, ':')) {
        char *t = lbox_strdupf("%s:latest", res->ref);
        free(res->ref);
        res->ref = t;
    }
    _cleanup_free_ char *tmproot = lbox_path_join(f->cache_dir, "tmp");
    b.layer_cache = lbox_path_join(f->cache_dir, "layers");
    /* Holding the store keeps a concurrent `lbox rm` from collecting cached layers that
     * this build is about to reference. */
    if (lbox_store_open(o->store_dir, &b.store, err) < 0 || lbox_store_hold(b.store, err) < 0 ||
        lock_tag(&b, res->ref, &lock_fd, &lock_path, err) < 0 ||
        lbox_mkdir_p(tmproot, 0755, err) < 0 || lbox_mkdir_p(b.layer_cache, 0755, err) < 0)
        goto out;
    sweep_leftovers(f, tmproot, b.layer_cache);
    b.stage = lbox_path_join(tmproot, "build-XXXXXX");
    if (lbox_cache_temp(b.stage, true, &b.stage_lock, err) < 0) {
        lbox_err_prefix(err, "cannot make the build's staging folder (make %s writable, or "
                        "set XDG_CACHE_HOME to another folder)", f->cache_dir);
        free(b.stage);
        b.stage = NULL;
        goto out;
    }
    if (build_base(&b, err) < 0 || build_node(&b, err) < 0 || build_runtime(&b, err) < 0 ||
        build_code(&b, err) < 0)
        goto out;

    struct lbox_layer layers[5];
    const char *comments[5];
    for (size_t i = 0; i < res->nlayers; i++) {
        layers[i] = res->layers[i].layer;
        comments[i] = res->layers[i].name;
    }
    struct lbox_image_spec spec = {
        .ref = res->ref,
        .runtime = b.recipe.runtime,
        .node_version = b.recipe.node.version,
        .arch = b.recipe.arch,
        .handler = o->handler ? o->handler : "index.handler",
        .env = (const char *const *)b.recipe.env,
        .layers = layers,
        .layer_comments = comments,
        .nlayers = res->nlayers,
        .created = b.epoch,
    };
    if (lbox_image_commit(b.store, &spec, res->manifest_digest, err) < 0)
        goto out;
    /* The image is built and tagged by now: a failed -o says so, or the user would take
     * the tag for the image it named before. */
    if (o->output && lbox_image_export(b.store, res->ref, o->output, o->format, err) < 0) {
        lbox_err_prefix(err, "%s is built and tagged, but writing -o %s failed", res->ref,
                        o->output);
        goto out;
    }
    rc = 0;
out:
    /* The image the tag named before is garbage now unless another tag names it: collect
     * its blobs, as lbox rm would. A failed build collects too: what it stored before
     * failing is named by no tag, and a full disk wants it gone now. Skipped while another
     * lbox holds the store (it may be mid-build); a failure only leaves garbage. Nothing is
     * rebuilt for it: the layer cache keeps its own verified copy of every layer it made. */
    if (b.store) {
        /* A collection that cannot run (a damaged image in the store) would otherwise leave
         * every later build's garbage too, unsaid. */
        struct lbox_error gc_err = {0};
        if (lbox_store_gc(b.store, NULL, &gc_err) < 0 && rc == 0)
            add_warning(res, gc_err.msg);
    }
    if (rc < 0 && b.stage)
        hint_disk_full(b.stage, f->cache_dir, err);
    if (b.stage)
        lbox_rm_rf(b.stage, NULL);
    if (b.stage_lock >= 0)
        close(b.stage_lock);
    free(b.stage);
    free(b.layer_cache);
    if (lock_fd >= 0) {
        unlink(lock_path); /* before the lock goes: see lbox_cache_lock_file */
        close(lock_fd);
    }
    free(lock_path);
    if (b.store)
        lbox_store_close(b.store);
    lbox_recipe_free(&b.recipe);
    return rc;
}

void lbox_build_result_free(struct lbox_build_result *res)
{
    free(res->ref);
    free(res->runtime);
    free(res->arch);
    free(res->node_from);
    for (size_t i = 0; i < res->nwarnings; i++)
        free(res->warnings[i]);
    free(res->warnings);
    memset(res, 0, sizeof *res);
}
