#include "sdk.h"

#include <jansson.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "extract.h"
#include "sources.h"

/* A lock entry's path must stay below node_modules/: it is joined to /var/runtime. */
static bool safe_path(const char *p)
{
    if (strncmp(p, "node_modules/", 13) != 0 || strstr(p, "..") || strstr(p, "//"))
        return false;
    return true;
}

int lbox_sdk_install(struct lbox_fetcher *f, const char *lock_path, const char *npm_registry_flag,
                     const char *root, struct lbox_error *err)
{
    json_error_t jerr;
    json_t *lock = json_load_file(lock_path, 0, &jerr);
    if (!lock)
        return lbox_err(err, LBOX_E_INVAL, "cannot read SDK lock %s: %s (line %d)", lock_path,
                        jerr.text, jerr.line);
    json_t *pkgs = json_object_get(lock, "packages");
    if (!json_is_array(pkgs)) {
        json_decref(lock);
        return lbox_err(err, LBOX_E_INVAL, "SDK lock %s has no \"packages\" array", lock_path);
    }
    _cleanup_free_ char *runtime_dir = lbox_path_join(root, "var/runtime");
    char *registry = NULL;
    int rc = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pkgs, i, p) {
        const char *path = json_string_value(json_object_get(p, "path"));
        const char *tarball = json_string_value(json_object_get(p, "tarball"));
        const char *integrity = json_string_value(json_object_get(p, "integrity"));
        if (!path || !tarball || !integrity || !safe_path(path) || tarball[0] == '/' ||
            strstr(tarball, "..") || strstr(tarball, "://")) {
            rc = lbox_err(err, LBOX_E_INVAL,
                          "SDK lock %s: package #%zu needs a path under node_modules/, a tarball "
                          "relative to the registry and an integrity", lock_path, i);
            break;
        }
        char *file = NULL;
        if (!lbox_fetch_cached(f, integrity, &file)) {
            if (!registry && lbox_npm_registry(npm_registry_flag, &registry, err) < 0) {
                rc = -1;
                break;
            }
            _cleanup_free_ char *url = lbox_strdupf("%s/%s", registry, tarball);
            if (lbox_fetch_pinned(f, url, integrity,
                                  "set --npm-registry or LBOX_NPM_REGISTRY, or configure npm's registry",
                                  &file, err) < 0) {
                rc = -1;
                break;
            }
        }
        _cleanup_free_ char *dest = lbox_path_join(runtime_dir, path);
        rc = lbox_mkdir_p(dest, 0755, err);
        /* npm tarballs normally hold "package/", a few older ones another top folder. */
        if (rc == 0)
            rc = lbox_extract_subtree(file, "package/", dest, NULL, err);
        free(file);
        if (rc < 0) {
            lbox_err_prefix(err, "installing SDK package %s", path);
            break;
        }
    }
    free(registry);
    json_decref(lock);
    return rc;
}
