#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fsutil.h"
#include "../common/hash.h"
#include "image.h"
#include "recipe.h"

/* "nodejs:18.20.8" from the labels, "nodejs:18" from the runtime's name alone. */
static char *runtime_version(const char *runtime, const char *node)
{
    int major;
    char tail[4];
    if (!runtime || sscanf(runtime, "nodejs%d.%3s", &major, tail) != 2 || strcmp(tail, "x"))
        return NULL;
    if (node && strspn(node, "0123456789.") == strlen(node) && atoi(node) == major)
        return lbox_strdupf("nodejs:%s", node);
    return lbox_strdupf("nodejs:%d", major);
}

/* The SHA-256 of the diff_ids of the layers lbox build made for the runtime (history
 * comments base, node and runtime), in order. */
static char *runtime_build(json_t *root)
{
    json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
    json_t *history = json_object_get(root, "history");
    struct lbox_hash *h = lbox_hash_new("sha256");
    bool any = false;
    for (size_t i = 0; i < json_array_size(ids) && i < json_array_size(history); i++) {
        const char *what = json_string_value(json_object_get(json_array_get(history, i),
                                                             "comment"));
        const char *id = json_string_value(json_array_get(ids, i));
        if (!what || !id ||
            (strcmp(what, "base") && strcmp(what, "node") && strcmp(what, "runtime")))
            continue;
        lbox_hash_update(h, id, strlen(id));
        lbox_hash_update(h, "\n", 1);
        any = true;
    }
    char hex[129];
    lbox_hash_final_hex(h, hex);
    return any ? lbox_xstrdup(hex) : NULL;
}

int lbox_image_facts_read(struct lbox_store *st, const char *ref, struct lbox_image_facts *f,
                          struct lbox_error *err)
{
    memset(f, 0, sizeof *f);
    char *text = NULL;
    if (lbox_store_config(st, ref, &text, err) < 0)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    free(text);
    json_t *cfg = root ? json_object_get(root, "config") : NULL;
    if (!cfg) {
        int rc = lbox_err(err, LBOX_E_INVAL, "image %s: its config is not OCI JSON (%s)", ref,
                          root ? "no \"config\"" : jerr.text);
        json_decref(root);
        return rc;
    }
    json_t *labels = json_object_get(cfg, "Labels");
    const char *rt = json_string_value(json_object_get(labels, "dev.lbox.runtime"));
    const char *ar = json_string_value(json_object_get(labels, "dev.lbox.arch"));
    const char *h = json_string_value(json_object_get(labels, "dev.lbox.handler"));
    if (!h)
        h = json_string_value(json_array_get(json_object_get(cfg, "Cmd"), 0));
    f->runtime = lbox_xstrdup(rt ? rt : "unknown");
    f->runtime_version = runtime_version(
        rt, json_string_value(json_object_get(labels, "dev.lbox.node")));
    f->runtime_build = f->runtime_version ? runtime_build(root) : NULL;
    f->arch = lbox_xstrdup(lbox_arch_canonical(ar) ? lbox_arch_canonical(ar) : lbox_arch_host());
    f->handler = lbox_xstrdup(h ? h : "index.handler");
    json_t *env = json_object_get(cfg, "Env");
    size_t n = json_array_size(env), k = 0;
    f->env = lbox_xcalloc(n + 1, sizeof *f->env);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(env, i));
        if (s)
            f->env[k++] = lbox_xstrdup(s);
    }
    json_decref(root);
    return 0;
}

void lbox_image_facts_free(struct lbox_image_facts *f)
{
    free(f->runtime);
    free(f->runtime_version);
    free(f->runtime_build);
    free(f->arch);
    free(f->handler);
    for (char **e = f->env; e && *e; e++)
        free(*e);
    free(f->env);
    memset(f, 0, sizeof *f);
}
