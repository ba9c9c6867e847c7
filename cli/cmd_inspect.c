/* lbox inspect: an image's config summary and layers (or its manifest and config as JSON). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/store.h"
#include "commands.h"
#include "output.h"

static const char usage_text[] =
    "usage: lbox inspect REF [--json]\n"
    "\n"
    "Shows an image of the local store: platform, runtime, handler, entrypoint, environment\n"
    "and its layers with digest and size. REF is name[:tag] or a digest (prefix).\n"
    "\n"
    "  --json      {\"ref\", \"digest\", \"manifest\", \"config\"}: the OCI documents as stored\n"
    "  -h, --help  this text\n"
    "\n"
    "Exit codes: 0 shown, 1 no such image or the store could not be read, 2 bad usage.\n";

static const char *str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

static void print_compact(const char *label, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    printf("%-12s%s\n", label, s ? s : "-");
    free(s);
}

static void print_text(const char *ref, const char *digest, json_t *man, json_t *cfg)
{
    json_t *cc = json_object_get(cfg, "config");
    json_t *labels = json_object_get(cc, "Labels");
    const char *variant = json_string_value(json_object_get(cfg, "variant"));
    printf("%-12s%s\n", "Image:", ref);
    printf("%-12s%s\n", "Digest:", digest);
    printf("%-12s%s\n", "Config:", str(json_object_get(man, "config"), "digest"));
    printf("%-12s%s/%s%s%s\n", "Platform:", str(cfg, "os"), str(cfg, "architecture"),
           variant ? "/" : "", variant ? variant : "");
    const char *node = json_string_value(json_object_get(labels, "dev.lbox.node"));
    printf("%-12s%s%s%s%s\n", "Runtime:", str(labels, "dev.lbox.runtime"),
           node ? " (Node.js " : "", node ? node : "", node ? ")" : "");
    printf("%-12s%s\n", "Handler:", str(labels, "dev.lbox.handler"));
    printf("%-12s%s\n", "Created:", str(cfg, "created"));
    print_compact("Entrypoint:", json_object_get(cc, "Entrypoint"));
    print_compact("Cmd:", json_object_get(cc, "Cmd"));
    printf("%-12s%s\n", "WorkingDir:", str(cc, "WorkingDir"));
    printf("Env:\n");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cc, "Env"), i, v) printf("  %s\n", json_string_value(v));
    /* history entries without empty_layer pair with layers, in order */
    json_t *hist = json_array();
    json_array_foreach(json_object_get(cfg, "history"), i, v)
        if (!json_is_true(json_object_get(v, "empty_layer")))
            json_array_append(hist, v);
    printf("Layers:\n");
    unsigned long long total = 0;
    json_array_foreach(json_object_get(man, "layers"), i, v) {
        char size[32];
        unsigned long long n = (unsigned long long)json_integer_value(json_object_get(v, "size"));
        total += n;
        lbox_human_size(n, size, sizeof size);
        const char *comment = json_string_value(json_object_get(json_array_get(hist, i), "comment"));
        printf("  %s  %9s  %s\n", str(v, "digest"), size, comment ? comment : "");
    }
    json_decref(hist);
    char size[32];
    lbox_human_size(total, size, sizeof size);
    printf("%-12s%s (compressed layers)\n", "Size:", size);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    int json = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "lbox inspect: name exactly one image\n%s", usage_text);
        return 2;
    }
    const char *ref = argv[optind];
    struct lbox_error err = {0};
    struct lbox_store *st;
    char *man_s = NULL, *cfg_s = NULL, digest[72];
    int r = lbox_store_open(NULL, &st, &err);
    if (r == 0) {
        r = lbox_store_manifest(st, ref, &man_s, digest, &err);
        if (r == 0)
            r = lbox_store_config(st, digest, &cfg_s, &err);
        lbox_store_close(st);
    }
    if (r < 0) {
        lbox_print_error("inspect", &err);
        free(man_s);
        return 1;
    }
    json_t *man = json_loads(man_s, 0, NULL), *cfg = json_loads(cfg_s, 0, NULL);
    free(man_s);
    free(cfg_s);
    if (!man || !cfg) {
        fprintf(stderr, "lbox inspect: %s: the manifest or config is not JSON\n", ref);
        json_decref(man);
        json_decref(cfg);
        return 1;
    }
    if (json) {
        json_t *out = json_pack("{s:s, s:s, s:O, s:O}", "ref", ref, "digest", digest, "manifest",
                                man, "config", cfg);
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(out);
    } else {
        print_text(ref, digest, man, cfg);
    }
    json_decref(man);
    json_decref(cfg);
    return 0;
}
