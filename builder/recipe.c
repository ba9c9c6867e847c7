#include "recipe.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <sys/utsname.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#ifndef LBOX_DATA_DIR
#define LBOX_DATA_DIR LBOX_SOURCE_DIR "/base-images"
#endif

static const char *const runtimes[] = {"nodejs14.x", "nodejs16.x", "nodejs18.x"};

const char *lbox_arch_canonical(const char *arch)
{
    if (!arch)
        return NULL;
    if (!strcmp(arch, "x86_64") || !strcmp(arch, "amd64"))
        return "x86_64";
    if (!strcmp(arch, "arm64") || !strcmp(arch, "aarch64"))
        return "arm64";
    return NULL;
}

const char *lbox_arch_debian(const char *arch)
{
    return !strcmp(lbox_arch_canonical(arch), "x86_64") ? "amd64" : "arm64";
}

const char *lbox_arch_host(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "x86_64";
    const char *a = lbox_arch_canonical(u.machine);
    return a ? a : "x86_64";
}

char *lbox_recipe_dir(void)
{
    const char *env = getenv("LBOX_DATA_DIR");
    return lbox_xstrdup(env && *env ? env : LBOX_DATA_DIR);
}

static char *dup_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? lbox_xstrdup(s) : NULL;
}

static char **dup_str_array(json_t *arr, size_t *n)
{
    size_t count = json_array_size(arr);
    char **out = lbox_xcalloc(count + 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s)
            out[k++] = lbox_xstrdup(s);
    }
    *n = k;
    return out;
}

int lbox_runtime_check(const char *runtime, struct lbox_error *err)
{
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
        if (runtime && !strcmp(runtime, runtimes[i]))
            return 0;
    return lbox_err(err, LBOX_E_INVAL,
                    "unknown runtime '%s': use nodejs14.x, nodejs16.x or nodejs18.x",
                    runtime ? runtime : "");
}

int lbox_recipe_load(const char *runtime, const char *arch, struct lbox_recipe *r,
                     struct lbox_error *err)
{
    memset(r, 0, sizeof *r);
    if (lbox_runtime_check(runtime, err) < 0)
        return -1;
    const char *canon = lbox_arch_canonical(arch);
    if (!canon)
        return lbox_err(err, LBOX_E_INVAL,
                        "unknown architecture '%s': use x86_64 (or amd64) or arm64 (or aarch64)",
                        arch ? arch : "");

    r->dir = lbox_recipe_dir();
    _cleanup_free_ char *path = lbox_strdupf("%s/%s.json", r->dir, runtime);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        lbox_recipe_free(r);
        return lbox_err(err, LBOX_E_INVAL, "cannot read recipe %s: %s (line %d)", path, jerr.text,
                        jerr.line);
    }
    json_t *node = json_object_get(root, "node");
    json_t *dist = json_object_get(json_object_get(node, "dist"), canon);
    json_t *npm = json_object_get(json_object_get(node, "npm"), canon);
    json_t *deb = json_object_get(root, "debian");

    r->runtime = lbox_xstrdup(runtime);
    r->arch = lbox_xstrdup(canon);
    r->source_date_epoch = json_integer_value(json_object_get(root, "source_date_epoch"));
    r->node.version = dup_str(node, "version");
    r->node.release_server = dup_str(node, "release_server");
    r->node.dist_file = dup_str(dist, "file");
    r->node.dist_sha256 = dup_str(dist, "sha256");
    r->node.npm_package = dup_str(npm, "package");
    r->node.npm_integrity = dup_str(npm, "integrity");
    r->node.npm_cli_version = dup_str(json_object_get(node, "npm_cli"), "version");
    r->node.npm_cli_integrity = dup_str(json_object_get(node, "npm_cli"), "integrity");
    r->debian_suite = dup_str(deb, "suite");
    r->debian_components = dup_str_array(json_object_get(deb, "components"), &r->ndebian_components);
    r->packages = dup_str_array(json_object_get(deb, "packages"), &r->npackages);
    r->runtime_client = dup_str(root, "runtime_client");
    r->sdk_lock = dup_str(root, "sdk_lock");
    r->node_root_certs = dup_str(root, "node_root_certs");
    r->esm_node_path = json_is_true(json_object_get(root, "esm_node_path"));
    r->env = dup_str_array(json_object_get(root, "env"), &r->nenv);
    json_decref(root);

    if (!r->node.version || !r->node.dist_file || !r->node.dist_sha256 || !r->node.npm_package ||
        !r->node.npm_integrity || !r->debian_suite || !r->npackages || !r->runtime_client) {
        lbox_recipe_free(r);
        return lbox_err(err, LBOX_E_INVAL,
                        "recipe %s is incomplete for %s: it needs node.version, node.dist.%s, "
                        "node.npm.%s, debian.suite, debian.packages and runtime_client",
                        path, canon, canon, canon);
    }
    r->node_major = atoi(r->node.version);
    return 0;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void lbox_recipe_free(struct lbox_recipe *r)
{
    free(r->dir);
    free(r->runtime);
    free(r->arch);
    free(r->node.version);
    free(r->node.release_server);
    free(r->node.dist_file);
    free(r->node.dist_sha256);
    free(r->node.npm_package);
    free(r->node.npm_integrity);
    free(r->node.npm_cli_version);
    free(r->node.npm_cli_integrity);
    free(r->debian_suite);
    free_strv(r->debian_components);
    free_strv(r->packages);
    free(r->runtime_client);
    free(r->sdk_lock);
    free(r->node_root_certs);
    free_strv(r->env);
    memset(r, 0, sizeof *r);
}
