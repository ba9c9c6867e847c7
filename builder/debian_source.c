/* Talking to the mirror: Release → Packages indexes → resolved set → .debs into a root.
 * Every download goes through the fetcher; everything after Release is pinned by digest. */
#include "debian_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define RELEASE_LIMIT (64u << 20)
#define PACKAGES_LIMIT ((size_t)1 << 30)

static char *describe(const struct lbox_deb_source *src)
{
    size_t len = 0;
    for (size_t i = 0; i < src->ncomponents; i++)
        len += strlen(src->components[i]) + 1;
    char *comps = lbox_xcalloc(len + 1, 1);
    for (size_t i = 0; i < src->ncomponents; i++) {
        if (i)
            strcat(comps, " ");
        strcat(comps, src->components[i]);
    }
    char *s = lbox_strdupf("Debian %s %s (%s) at %s", src->suite, comps, src->arch, src->mirror);
    free(comps);
    return s;
}

static char *mirror_url(const struct lbox_deb_source *src, const char *rest)
{
    size_t n = strlen(src->mirror);
    while (n > 0 && src->mirror[n - 1] == '/')
        n--;
    return lbox_strdupf("%.*s/%s", (int)n, src->mirror, rest);
}

static int load_release(struct lbox_fetcher *f, const struct lbox_deb_source *src, long max_age,
                        struct lbox_deb_release *rel, char **release_url, struct lbox_error *err)
{
    _cleanup_free_ char *rest = lbox_strdupf("dists/%s/Release", src->suite);
    char *url = mirror_url(src, rest);
    _cleanup_free_ char *path = NULL, *text = NULL;
    size_t len = 0;
    if (lbox_fetch_unpinned(f, url, max_age, LBOX_DEBIAN_MIRROR_HINT, &path, err) < 0 ||
        lbox_read_file(path, RELEASE_LIMIT, &text, &len, err) < 0 ||
        lbox_deb_release_parse(text, len, url, rel, err) < 0) {
        free(url);
        return -1;
    }
    *release_url = url;
    return 0;
}

static bool listed(const char *words, const char *w)
{
    if (!words)
        return true; /* a Release without the field does not restrict */
    size_t n = strlen(w);
    for (const char *p = words; (p = strstr(p, w)); p += n)
        if ((p == words || strchr(" \n", p[-1])) && (p[n] == '\0' || strchr(" \n", p[n])))
            return true;
    return false;
}

/* Fetches and parses one component's index into idx. */
static int load_component(struct lbox_fetcher *f, const struct lbox_deb_source *src,
                          const struct lbox_deb_release *rel, const char *release_url,
                          const char *comp, struct lbox_deb_index *idx, struct lbox_error *err)
{
    static const char *const exts[] = {".xz", ".gz", ""};
    char hex[65];
    uint64_t size = 0;
    _cleanup_free_ char *rel_path = NULL;
    for (size_t i = 0; i < 3 && !rel_path; i++) {
        char *candidate = lbox_strdupf("%s/binary-%s/Packages%s", comp, src->arch, exts[i]);
        int rc = lbox_deb_release_lookup(rel, candidate, hex, &size);
        if (rc < 0) {
            free(candidate);
            return lbox_err(err, LBOX_E_INVAL, "%s: malformed SHA256 list", release_url);
        }
        if (rc == 1)
            rel_path = candidate;
        else
            free(candidate);
    }
    if (!rel_path)
        return lbox_err(err, LBOX_E_NOTFOUND,
                        "%s lists no %s/binary-%s/Packages index (architectures: %s; "
                        "components: %s)",
                        release_url, comp, src->arch,
                        rel->architectures ? rel->architectures : "?",
                        rel->components ? rel->components : "?");
    /* by-hash names never change content, so a Release slightly older than the mirror's
     * still finds its index (the mirror keeps old by-hash files for a while). */
    _cleanup_free_ char *rest = NULL;
    if (rel->by_hash) {
        _cleanup_free_ char *dir = lbox_xstrdup(rel_path);
        *strrchr(dir, '/') = '\0';
        rest = lbox_strdupf("dists/%s/%s/by-hash/SHA256/%s", src->suite, dir, hex);
    } else {
        rest = lbox_strdupf("dists/%s/%s", src->suite, rel_path);
    }
    _cleanup_free_ char *url = mirror_url(src, rest);
    _cleanup_free_ char *digest = lbox_strdupf("sha256:%s", hex);
    _cleanup_free_ char *path = NULL;
    if (lbox_fetch_pinned(f, url, digest, LBOX_DEBIAN_MIRROR_HINT, &path, err) < 0)
        return lbox_err_prefix(err, "Packages index %s (listed in %s)", rel_path, release_url);
    char *text = NULL;
    size_t len = 0;
    if (lbox_deb_decompress_file(path, PACKAGES_LIMIT, &text, &len, err) < 0)
        return lbox_err_prefix(err, "Packages index %s", url);
    return lbox_deb_index_add(idx, text, len, src->arch, url, err);
}

/* *stale_possible tells whether a failure came after a Release that may have been cached. */
static int load_index(struct lbox_fetcher *f, const struct lbox_deb_source *src, long max_age,
                      struct lbox_deb_index *idx, bool *stale_possible, struct lbox_error *err)
{
    *stale_possible = false;
    if (src->ncomponents == 0)
        return lbox_err(err, LBOX_E_INVAL, "no Debian components given (want e.g. \"main\")");
    struct lbox_deb_release rel;
    _cleanup_free_ char *release_url = NULL;
    if (load_release(f, src, max_age, &rel, &release_url, err) < 0)
        return -1;
    *stale_possible = max_age != 0;
    int rc = 0;
    if (!listed(rel.architectures, src->arch))
        rc = lbox_err(err, LBOX_E_NOTFOUND,
                      "%s does not carry architecture \"%s\" (it lists: %s); use a mirror with "
                      "that architecture (%s)",
                      release_url, src->arch, rel.architectures, LBOX_DEBIAN_MIRROR_HINT);
    for (size_t i = 0; rc == 0 && i < src->ncomponents; i++) {
        if (!listed(rel.components, src->components[i]))
            rc = lbox_err(err, LBOX_E_NOTFOUND, "%s has no component \"%s\" (it lists: %s)",
                          release_url, src->components[i], rel.components);
        else
            rc = load_component(f, src, &rel, release_url, src->components[i], idx, err);
    }
    lbox_deb_release_free(&rel);
    if (rc == 0)
        lbox_deb_index_finish(idx);
    return rc;
}

int lbox_debian_resolve(struct lbox_fetcher *f, const struct lbox_deb_source *src,
                        const char *const *wanted, size_t nwanted, long index_max_age_s,
                        struct lbox_deb_set *out, struct lbox_error *err)
{
    memset(out, 0, sizeof *out);
    struct lbox_deb_index idx = {0};
    bool stale;
    int rc = load_index(f, src, index_max_age_s, &idx, &stale, err);
    /* A cached Release can name an index the mirror has since replaced: read it afresh once. */
    if (rc < 0 && stale && !f->offline && err &&
        (err->code == LBOX_E_NET || err->code == LBOX_E_DIGEST)) {
        lbox_deb_index_free(&idx);
        rc = load_index(f, src, 0, &idx, &stale, err);
    }
    if (rc == 0) {
        _cleanup_free_ char *where = describe(src);
        rc = lbox_deb_resolve_index(&idx, src->arch, wanted, nwanted, where, out, err);
    }
    lbox_deb_index_free(&idx);
    return rc;
}

static bool safe_pool_path(const char *p)
{
    if (!*p || *p == '/' || strstr(p, "://"))
        return false;
    for (const char *c = p; (c = strstr(c, "..")); c += 2)
        if ((c == p || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
            return false;
    return true;
}

int lbox_debian_install(struct lbox_fetcher *f, const struct lbox_deb_source *src,
                        const struct lbox_deb_set *set, const char *rootdir,
                        struct lbox_error *err)
{
    if (lbox_mkdir_p(rootdir, 0755, err) < 0)
        return -1;
    /* libarchive's symlink check walks every component of the absolute names we give it,
     * so the root itself must be free of symlinks. */
    _cleanup_free_ char *root = realpath(rootdir, NULL);
    if (!root)
        return lbox_err_errno(err, errno, "cannot resolve %s", rootdir);
    if (lbox_deb_merged_usr(root, err) < 0)
        return -1;
    for (size_t i = 0; i < set->n; i++) {
        const struct lbox_deb_pkg *p = &set->pkgs[i];
        _cleanup_free_ char *what = lbox_strdupf("Debian package %s %s (%s)", p->name, p->version,
                                                 p->filename);
        if (!safe_pool_path(p->filename))
            return lbox_err(err, LBOX_E_INVAL, "%s: the index gives an unsafe file name", what);
        _cleanup_free_ char *url = mirror_url(src, p->filename);
        _cleanup_free_ char *digest = lbox_strdupf("sha256:%s", p->sha256);
        _cleanup_free_ char *path = NULL;
        if (lbox_fetch_pinned(f, url, digest, LBOX_DEBIAN_MIRROR_HINT, &path, err) < 0)
            return lbox_err_prefix(err, "%s", what);
        if (lbox_deb_extract(path, root, what, err) < 0)
            return -1;
    }
    return 0;
}
