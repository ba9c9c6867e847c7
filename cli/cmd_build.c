/* lbox build: parse flags, call builder/build.c, print what happened. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../builder/build.h"
#include "../builder/code.h"
#include "../common/fsutil.h"
#include "args.h"
#include "commands.h"
#include "output.h"

static const char usage_text[] =
    "usage: lbox build --runtime RUNTIME --code DIR|ZIP [options]\n"
    "\n"
    "Builds a Lambda function image into the local store.\n"
    "\n"
    "  --runtime R          nodejs14.x | nodejs16.x | nodejs18.x\n"
    "  --arch A             x86_64 (amd64) | arm64 (aarch64); default: this machine's\n"
    "  --code PATH          function code: a directory or a Lambda .zip (into /var/task)\n"
    "  --layer PATH         a layer, a .zip or a directory (into /opt); repeat, in\n"
    "                       order, later wins; at most 5\n"
    "  --handler H          default index.handler (the image's Cmd)\n"
    "  --tag NAME[:TAG]     default <code name>:<runtime>-<arch>\n"
    "  -o, --output PATH    also write the image to PATH (a new file, or for rootfs a\n"
    "                       new directory; never a device, pipe or link)\n"
    "  --format F           what -o writes: oci (default; an archive docker and podman\n"
    "                       load) | docker | rootfs (a directory) | rootfs-tar\n"
    "  --node-source S      auto (default: release server, else the npm package) | dist | npm\n"
    "  --node-mirror URL    Node.js release mirror (env LBOX_NODE_MIRROR)\n"
    "  --npm-registry URL   npm registry (env LBOX_NPM_REGISTRY; default: npm's config)\n"
    "  --debian-mirror URL  Debian mirror (env LBOX_DEBIAN_MIRROR; default: apt's sources)\n"
    "  --with-npm           also install npm into /var/lang\n"
    "  --npm-install        run npm ci (npm install without a lock file) for the code in a\n"
    "                       sandbox of the target runtime and arch (QEMU when foreign), so\n"
    "                       native addons are compiled for the target; npm's output on stderr\n"
    "                       (npm and its scripts get 4 GB of memory, 1 GB of disk for the\n"
    "                       code and 30 minutes: env LBOX_NPM_TIMEOUT in seconds), and\n"
    "                       the internet but not this host's loopback, through slirp4netns\n"
    "                       (env LBOX_NPM_NETWORK: auto (default), nat or host)\n"
    "  --offline            use the download cache only\n"
    "  --refresh            re-read the Debian index even if fetched recently\n"
    "  --json               print the result as JSON\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 built, 1 the build failed, 2 usage error.\n";

enum {
    OPT_RUNTIME = 256, OPT_ARCH, OPT_CODE, OPT_LAYER, OPT_HANDLER, OPT_TAG, OPT_FORMAT,
    OPT_NODE_SOURCE, OPT_NODE_MIRROR, OPT_NPM_REGISTRY, OPT_DEBIAN_MIRROR, OPT_WITH_NPM,
    OPT_OFFLINE, OPT_REFRESH, OPT_JSON, OPT_NPM_INSTALL,
};

static const struct option options[] = {
    {"runtime", required_argument, NULL, OPT_RUNTIME},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"code", required_argument, NULL, OPT_CODE},
    {"layer", required_argument, NULL, OPT_LAYER},
    {"handler", required_argument, NULL, OPT_HANDLER},
    {"tag", required_argument, NULL, OPT_TAG},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"node-source", required_argument, NULL, OPT_NODE_SOURCE},
    {"node-mirror", required_argument, NULL, OPT_NODE_MIRROR},
    {"npm-registry", required_argument, NULL, OPT_NPM_REGISTRY},
    {"debian-mirror", required_argument, NULL, OPT_DEBIAN_MIRROR},
    {"with-npm", no_argument, NULL, OPT_WITH_NPM},
    {"npm-install", no_argument, NULL, OPT_NPM_INSTALL},
    {"offline", no_argument, NULL, OPT_OFFLINE},
    {"refresh", no_argument, NULL, OPT_REFRESH},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_table(const struct lbox_build_result *r)
{
    char size[32];
    printf("%-8s  %-19s  %10s  %s\n", "LAYER", "DIGEST", "SIZE", "");
    for (size_t i = 0; i < r->nlayers; i++) {
        const struct lbox_build_layer *l = &r->layers[i];
        printf("%-8s  %.19s  %10s  %s\n", l->name, l->layer.digest,
               lbox_human_size(l->layer.size, size, sizeof size), l->cached ? "cached" : "built");
    }
    printf("\n%s  %s  (%s, %s; Node.js from the %s)\n", r->ref, r->manifest_digest, r->runtime,
           r->arch, r->node_from ? r->node_from : "cache");
}

static void print_json(const struct lbox_build_result *r)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < r->nlayers; i++) {
        const struct lbox_build_layer *l = &r->layers[i];
        json_array_append_new(layers, json_pack("{s:s, s:s, s:s, s:I, s:b}", "name", l->name,
                                                "digest", l->layer.digest, "diff_id",
                                                l->layer.diff_id, "size", (json_int_t)l->layer.size,
                                                "cached", l->cached));
    }
    json_t *warnings = json_array();
    for (size_t i = 0; i < r->nwarnings; i++)
        json_array_append_new(warnings, json_string(r->warnings[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "ref", r->ref, "digest",
                          r->manifest_digest, "runtime", r->runtime, "arch", r->arch, "layers",
                          layers, "warnings", warnings);
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
}

/* Lambda takes any handler without spaces, and so does the image; the Node.js runtime then
 * refuses some at every invoke (Runtime.MalformedHandlerName). Said now, not at the first
 * invoke. */
static void warn_about_handler(const char *h)
{
    if (!h)
        return;
    const char *dot = strrchr(h, '.');
    if (!dot || dot == h || !dot[1] || dot[-1] == '/')
        lbox_print_warning("build", "--handler has no module.function form (such as "
                                    "index.handler): the Node.js runtime will refuse it at "
                                    "every invoke with Runtime.MalformedHandlerName");
    else if (strstr(h, ".."))
        lbox_print_warning("build", "--handler has '..' in it: the Node.js runtime refuses it "
                                    "at every invoke with Runtime.MalformedHandlerName; name "
                                    "the module from the code's root (dir/file.function)");
}

int cmd_build(int argc, char **argv)
{
    struct lbox_build_opts o = {.index_max_age_s = 24 * 3600, .format = LBOX_EXPORT_OCI};
    const char **layers = NULL;
    bool offline = false, json = false;
    const char *format_name = NULL;
    struct lbox_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_RUNTIME: o.runtime = optarg; break;
        case OPT_ARCH: o.arch = optarg; break;
        case OPT_CODE: o.code = optarg; break;
        case OPT_LAYER:
            layers = lbox_xrealloc(layers, (o.nlayers + 1) * sizeof *layers);
            layers[o.nlayers++] = optarg;
            break;
        case OPT_HANDLER: o.handler = optarg; break;
        case OPT_TAG: o.tag = optarg; break;
        case 'o': o.output = optarg; break;
        case OPT_FORMAT:
            if (lbox_export_format_parse(optarg, &o.format, &err) < 0)
                goto usage_error;
            format_name = optarg;
            break;
        case OPT_NODE_SOURCE:
            if (lbox_node_source_parse(optarg, &o.node.source, &err) < 0)
                goto usage_error;
            break;
        case OPT_NODE_MIRROR: o.node.node_mirror = optarg; break;
        case OPT_NPM_REGISTRY: o.npm_registry = optarg; break;
        case OPT_DEBIAN_MIRROR: o.debian_mirror = optarg; break;
        case OPT_WITH_NPM: o.node.with_npm = true; break;
        case OPT_NPM_INSTALL: o.npm_install = true; o.npm_log_fd = 2; break;
        case OPT_OFFLINE: offline = true; break;
        case OPT_REFRESH: o.index_max_age_s = 0; break;
        case OPT_JSON: json = true; break;
        case 'h': fputs(usage_text, stdout); free(layers); return 0;
        default: fputs(usage_text, stderr); free(layers); return 2;
        }
    }
    if (optind < argc) {
        lbox_err(&err, LBOX_E_INVAL, "unexpected argument '%s'", argv[optind]);
        goto usage_error;
    }
    if (!o.runtime || !o.code) {
        lbox_err(&err, LBOX_E_INVAL, "--runtime and --code are required (see lbox build --help)");
        goto usage_error;
    }
    if (lbox_cli_check_target("build", o.runtime, o.arch) != 0) {
        free(layers);
        return 2;
    }
    if (o.handler && lbox_build_check_handler(o.handler, &err) < 0)
        goto usage_error;
    warn_about_handler(o.handler);
    if (o.tag) {
        char *normal = lbox_ref_normalize(o.tag, &err);
        if (!normal) {
            lbox_err_prefix(&err, "--tag");
            goto usage_error;
        }
        free(normal);
    }
    if (o.nlayers > LBOX_CODE_MAX_LAYERS) {
        lbox_err(&err, LBOX_E_INVAL, "%zu --layer options given; Lambda allows at most %d layers", o.nlayers,
                 LBOX_CODE_MAX_LAYERS);
        goto usage_error;
    }
    if (format_name && !o.output) {
        lbox_err(&err, LBOX_E_INVAL, "--format %s needs -o PATH: it is the format of what -o "
                 "writes (the store itself is always OCI)", format_name);
        goto usage_error;
    }
    o.layers = layers;

    struct lbox_fetcher f;
    if (lbox_fetcher_init(&f, &err) < 0) {
        lbox_print_error("build", &err);
        free(layers);
        return 1;
    }
    f.offline = offline;
    f.notice = lbox_print_notice;

    struct lbox_build_result res;
    int rc = lbox_build(&f, &o, &res, &err);
    if (rc == 0) {
        for (size_t i = 0; i < res.nwarnings; i++)
            lbox_print_warning("build", res.warnings[i]);
        if (json)
            print_json(&res);
        else
            print_table(&res);
        if (o.output && !json)
            printf("written to %s\n", o.output);
    } else {
        lbox_print_error("build", &err);
    }
    lbox_build_result_free(&res);
    lbox_fetcher_free(&f);
    free(layers);
    return rc == 0 ? 0 : 1;

usage_error:
    lbox_print_error("build", &err);
    free(layers);
    return 2;
}
