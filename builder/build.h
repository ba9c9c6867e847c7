/* `lbox build`: a recipe, function code and layers in; an OCI image in the local store out.
 *
 * The image is five layers, ordered from least to most often changed, each cached by a key
 * over its inputs so a rebuild only writes what changed:
 *   base     Debian userland + Lambda layout     key: arch, Release file digest, packages
 *   node     /var/lang                           key: the pinned Node.js digest
 *   runtime  /var/runtime (client + AWS SDK)     key: client files, SDK lock
 *   opt      /opt from --layer zips              rebuilt every time (cheap), omitted if none
 *   task     /var/task from --code               rebuilt every time
 * Same inputs → same layer bytes → same image digest (SOURCE_DATE_EPOCH or the recipe's). */
#ifndef LBOX_BUILD_H
#define LBOX_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "fetch.h"
#include "image.h"
#include "layer.h"
#include "node.h"

struct lbox_build_opts {
    const char *runtime;           /* nodejs14.x | nodejs16.x | nodejs18.x */
    const char *arch;              /* x86_64 | amd64 | arm64 | aarch64; NULL = host */
    const char *code;              /* directory or .zip */
    const char *const *layers;     /* zips, in order (later wins) */
    size_t nlayers;
    const char *handler;           /* NULL = index.handler */
    const char *tag;               /* NULL = <code name>:<runtime>-<arch> */
    const char *output;            /* NULL = store only */
    enum lbox_export_format format;
    struct lbox_node_opts node;
    const char *debian_mirror;     /* NULL = env / apt sources */
    const char *npm_registry;      /* NULL = env / npm config (SDK packages) */
    long index_max_age_s;          /* reuse a fetched Debian Release this long; 0 = refetch */
    const char *store_dir;         /* NULL = default */
    /* --npm-install (builder/npm_install.h): npm ci/install for the target first */
    bool npm_install;
    int npm_log_fd;                /* npm's output goes here; < 0 = discarded (0 = stdin: no) */
};

struct lbox_build_layer {
    const char *name;              /* base, node, runtime, opt, task */
    struct lbox_layer layer;
    bool cached;                   /* reused, not written */
};

struct lbox_build_result {
    char *ref;
    char *runtime;
    char *arch;
    char manifest_digest[72];
    struct lbox_build_layer layers[5];
    size_t nlayers;
    char *node_from;               /* "release tarball" | "npm package" */
    /* Warnings: lint findings ("path: message"; lint errors fail the build), and a
     * collection of unused blobs that could not run. */
    char **warnings;
    size_t nwarnings;
};

/* Builds, tags, and (with opts->output) exports. f carries offline/progress/notice. First
 * deletes what killed builds left in the cache (staging folders, partial downloads: the
 * entries no running lbox holds, see cache_temp.h). On failure, what it stored is collected as
 * after an lbox rm (by a later collection when another lbox holds the store). */
int lbox_build(struct lbox_fetcher *f, const struct lbox_build_opts *opts,
               struct lbox_build_result *res, struct lbox_error *err);
void lbox_build_result_free(struct lbox_build_result *res);

/* A handler as Lambda's API takes one: 1 to 128 characters, none of them white space. */
int lbox_build_check_handler(const char *handler, struct lbox_error *err);

#endif
