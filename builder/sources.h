/* Where downloads come from. Every source is configurable and never hard-coded to one host:
 *
 *   Node.js release tarballs  --node-mirror, else $LBOX_NODE_MIRROR, else the recipe's server
 *   npm registry              --npm-registry, else $LBOX_NPM_REGISTRY, $NPM_CONFIG_REGISTRY,
 *                             $npm_config_registry, else what `npm config get registry` says
 *                             from / (the user's and the global npmrc, not a function's)
 *   Debian mirror             see debian.h (--debian-mirror, $LBOX_DEBIAN_MIRROR, apt sources) */
#ifndef LBOX_SOURCES_H
#define LBOX_SOURCES_H

#include "../common/error.h"

/* The npm registry base URL without a trailing slash. `flag` may be NULL. malloc'd. */
int lbox_npm_registry(const char *flag, char **url, struct lbox_error *err);

/* The Node.js release mirror without a trailing slash. malloc'd. */
char *lbox_node_mirror(const char *flag, const char *recipe_default);

#endif
