/* Image config and manifest: deterministic JSON (sorted keys, compact) into the store. */
#include "image.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define ENTRYPOINT "/lambda-entrypoint.sh"

static void rfc3339(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Lambda names (x86_64, arm64, and their aliases) -> OCI platform (GOARCH + variant). */
static int platform(const char *arch, const char **goarch, const char **variant,
                    struct lbox_error *err)
{
    if (!strcmp(arch, "x86_64") || !strcmp(arch, "amd64")) {
        *goarch = "amd64";
        *variant = NULL;
    } else if (!strcmp(arch, "arm64") || !strcmp(arch, "aarch64")) {
        *goarch = "arm64";
        *variant = "v8";
    } else {
        return lbox_err(err, LBOX_E_INVAL, "unknown architecture '%s'; use x86_64 or arm64", arch);
    }
    return 0;
}

static json_t *make_config(const struct lbox_image_spec *sp, const char *goarch,
                           const char *variant, struct lbox_error *err)
{
    char created[32];
    rfc3339(sp->created, created);
    json_t *env = json_array();
    for (const char *const *e = sp->env; e && *e; e++) {
        if (!strchr(*e, '=')) {
            json_decref(env);
            lbox_err(err, LBOX_E_INVAL, "environment entry '%s' has no '='", *e);
            return NULL;
        }
        json_array_append_new(env, json_string(*e));
    }
    const char *lambda_arch = !strcmp(goarch, "amd64") ? "x86_64" : "arm64";
    json_t *cfg = json_pack(
        "{s:s, s:s, s:{s:o, s:[s], s:[s], s:s, s:{s:s, s:s, s:s}}}", "architecture", goarch,
        "os", "linux", "config", "Env", env, "Entrypoint", ENTRYPOINT, "Cmd", sp->handler,
        "WorkingDir", "/var/task", "Labels", "dev.lbox.runtime", sp->runtime, "dev.lbox.arch",
        lambda_arch, "dev.lbox.handler", sp->handler);
    if (!cfg) {
        lbox_err(err, LBOX_E_INVAL, "cannot build the image config (a field is not UTF-8?)");
        return NULL;
    }
    if (sp->node_version)
        json_object_set_new(json_object_get(json_object_get(cfg, "config"), "Labels"),
                            "dev.lbox.node", json_string(sp->node_version));
    json_object_set_new(cfg, "created", json_string(created));
    if (variant)
        json_object_set_new(cfg, "variant", json_string(variant));
    json_t *diff_ids = json_array(), *history = json_array();
    for (size_t i = 0; i < sp->nlayers; i++) {
        json_array_append_new(diff_ids, json_string(sp->layers[i].diff_id));
        const char *what = sp->layer_comments && sp->layer_comments[i] ? sp->layer_comments[i]
                                                                       : "layer";
        _cleanup_free_ char *by = lbox_strdupf("lbox build: %s", what);
        json_array_append_new(history, json_pack("{s:s, s:s, s:s}", "created", created,
                                                 "created_by", by, "comment", what));
    }
    json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:o}", "type", "layers", "diff_ids",
                                                 diff_ids));
    json_object_set_new(cfg, "history", history);
    return cfg;
}

static int put_json(struct lbox_store *st, json_t *j, char *digest, size_t *size,
                    struct lbox_error *err)
{
    _cleanup_free_ char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    if (!s)
        return lbox_err(err, LBOX_E_IO, "cannot serialise image JSON");
    *size = strlen(s);
    return lbox_store_put_blob(st, s, *size, digest, err);
}

int lbox_image_commit(struct lbox_store *st, const struct lbox_image_spec *sp,
                      char *manifest_digest_out, struct lbox_error *err)
{
    const char *goarch = NULL, *variant = NULL;
    if (!sp->runtime || !sp->handler || !sp->arch || !sp->ref)
        return lbox_err(err, LBOX_E_INVAL, "an image needs a ref, runtime, arch and handler");
    if (platform(sp->arch, &goarch, &variant, err) < 0)
        return -1;
    for (size_t i = 0; i < sp->nlayers; i++)
        if (!lbox_store_has_blob(st, sp->layers[i].digest))
            return lbox_err(err, LBOX_E_NOTFOUND, "layer %s is not in the store",
                            sp->layers[i].digest);
    json_t *cfg = make_config(sp, goarch, variant, err);
    if (!cfg)
        return -1;
    char cfg_digest[72], man_digest[72];
    size_t cfg_size = 0, man_size = 0;
    int r = put_json(st, cfg, cfg_digest, &cfg_size, err);
    json_decref(cfg);
    if (r < 0)
        return -1;
    json_t *layers = json_array();
    for (size_t i = 0; i < sp->nlayers; i++)
        json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", MT_LAYER_GZIP,
                                                "digest", sp->layers[i].digest, "size",
                                                (json_int_t)sp->layers[i].size));
    json_t *man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
                            "mediaType", MT_MANIFEST, "config", "mediaType", MT_CONFIG,
                            "digest", cfg_digest, "size", (json_int_t)cfg_size, "layers", layers);
    r = put_json(st, man, man_digest, &man_size, err);
    json_decref(man);
    if (r == 0)
        r = lbox_store_tag(st, sp->ref, man_digest, man_size, err);
    if (r == 0 && manifest_digest_out)
        memcpy(manifest_digest_out, man_digest, sizeof man_digest);
    return r;
}

int lbox_export_format_parse(const char *s, enum lbox_export_format *f, struct lbox_error *err)
{
    static const struct {
        const char *name;
        enum lbox_export_format f;
    } names[] = {{"oci", LBOX_EXPORT_OCI},
                 {"docker", LBOX_EXPORT_DOCKER},
                 {"rootfs", LBOX_EXPORT_ROOTFS},
                 {"rootfs-tar", LBOX_EXPORT_ROOTFS_TAR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (s && !strcmp(s, names[i].name)) {
            *f = names[i].f;
            return 0;
        }
    return lbox_err(err, LBOX_E_INVAL, "unknown output format '%s'; use oci, docker, rootfs or "
                    "rootfs-tar", s ? s : "");
}
