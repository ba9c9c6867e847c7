/* Node.js for an image: the official binaries, from the release tarball or from the npm
 * package node-linux-<arch> (the same binary), both pinned by the recipe. */
#ifndef LBOX_NODE_H
#define LBOX_NODE_H

#include <stdbool.h>

#include "../common/error.h"
#include "fetch.h"
#include "recipe.h"

enum lbox_node_source {
    LBOX_NODE_AUTO, /* cache first, then the release server, then npm (with a notice) */
    LBOX_NODE_DIST,
    LBOX_NODE_NPM,
};

int lbox_node_source_parse(const char *s, enum lbox_node_source *src, struct lbox_error *err);

struct lbox_node_opts {
    enum lbox_node_source source;
    const char *node_mirror;   /* flag value or NULL */
    const char *npm_registry;  /* flag value or NULL */
    bool with_npm;             /* also install npm (from the tarball, or the npm package) */
};

struct lbox_node_archive {
    char *path;                /* verified file in the cache */
    char *strip;               /* top folder inside it ("package/", "node-v18...-x64/") */
    enum lbox_node_source from;
    char *digest;              /* the pinned digest it matched */
    char *npm_cli;             /* with --with-npm from the npm package: the npm package's tgz */
};

/* Fetches (or finds in the cache) the pinned archive. */
int lbox_node_fetch(struct lbox_fetcher *f, const struct lbox_recipe *r,
                    const struct lbox_node_opts *o, struct lbox_node_archive *out,
                    struct lbox_error *err);

/* Installs bin/node (and npm on request) into <root>/var/lang. */
int lbox_node_install(const struct lbox_node_archive *a, const char *root, bool with_npm,
                      struct lbox_error *err);

void lbox_node_archive_free(struct lbox_node_archive *a);

#endif
