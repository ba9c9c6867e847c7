/* `lbox build --npm-install`: the function's npm dependencies installed inside a sandbox of
 * the target runtime and architecture (through QEMU when foreign), so that native addons are
 * compiled for the target, as `sam build --use-container` does.
 *
 * Two steps:
 *  1. A build environment per runtime + arch, assembled once and cached read-only under
 *     <cache>/buildenv/<key>: the recipe's Debian packages plus its "build_packages"
 *     (compiler, make, python3 for node-gyp) for the TARGET arch, Lambda's layout, Node.js
 *     with npm in /var/lang, and headers for node-gyp in /var/lang/include/node (the release
 *     tarball's full headers when Node.js came from it; else the Node-API headers from the
 *     pinned npm package node-api-headers with a small common.gypi, which builds Node-API
 *     addons — those that use V8/nan directly need the tarball: --node-source dist).
 *     The key covers the Debian Release file, both package lists, the Node.js and npm
 *     digests and the header pin.
 *  2. The code is copied to a scratch folder, bind-mounted read-write at /var/task, and
 *     `npm ci` (with a lock file) or `npm install` runs there with HOME=/tmp, npm's cache in
 *     /tmp, the host's network, and the registry from --npm-registry / env / npm's config.
 *     The result is the folder the normal build takes as --code (so the lint runs on it).
 *
 * Only the registry travels into the sandbox, not the user's .npmrc (tokens stay outside).
 * npm's scripts are the function's code: the sandbox holds them to LBOX_NPM_INSTALL_MEMORY_MB,
 * the run to LBOX_NPM_INSTALL_TIMEOUT_S and the code folder to LBOX_NPM_INSTALL_DISK_MB, as a
 * CI job's limits would. */
#ifndef LBOX_NPM_INSTALL_H
#define LBOX_NPM_INSTALL_H

#include "../common/error.h"
#include "code.h"
#include "fetch.h"
#include "node.h"

#define LBOX_NPM_INSTALL_MEMORY_MB 4096
#define LBOX_NPM_INSTALL_TIMEOUT_S (30 * 60)
/* The code folder npm works in is a host folder: past this it is stopped, not the disk
 * filled (Lambda takes 250 MB; npm needs no more than that on the way). */
#define LBOX_NPM_INSTALL_DISK_MB 1024

struct lbox_npm_install_opts {
    const char *runtime;            /* nodejs14.x | nodejs16.x | nodejs18.x */
    const char *arch;               /* target; NULL = host */
    const char *code;               /* directory or .zip with a package.json */
    const struct lbox_node_opts *node; /* where Node.js and npm come from (NULL = auto) */
    const char *npm_registry;       /* NULL = env / npm config */
    const char *debian_mirror;      /* NULL = env / apt sources */
    long index_max_age_s;           /* reuse of the Debian Release file */
    const char *work_dir;           /* existing folder for the scratch copy (caller removes) */
    const struct lbox_code_budget *budget; /* the layers' share so far; NULL = none */
    int log_fd;                     /* npm's stdout and stderr go here; < 0 = discarded */
};

/* Runs npm for `code` in a build sandbox; *out_dir (malloc'd, under work_dir) is the code
 * with its node_modules. The copy of the code is held to Lambda's limit on top of
 * o->budget (LBOX_E_LIMIT naming o->code); o->budget itself is not changed, as the caller
 * counts the result, node_modules included, when it installs it. npm failing is an
 * LBOX_E_INVAL error naming its exit status. */
int lbox_npm_install(struct lbox_fetcher *f, const struct lbox_npm_install_opts *o,
                     char **out_dir, struct lbox_error *err);

/* The cached build environment root for o->runtime/o->arch, assembled when missing.
 * *root is malloc'd. */
int lbox_buildenv_prepare(struct lbox_fetcher *f, const struct lbox_npm_install_opts *o,
                          char **root, struct lbox_error *err);

#endif
