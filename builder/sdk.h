/* The AWS SDK as Lambda ships it, installed into /var/runtime from a committed lock file
 * (base-images/sdk/<runtime>.lock.json): every npm tarball pinned by integrity, fetched
 * from the configured registry, extracted with libarchive; npm itself never runs.
 *
 * Lock format: {"lockfileVersion":1,"runtime":"...","packages":[{"path":"node_modules/x",
 * "name":"x","version":"1.2.3","tarball":"x/-/x-1.2.3.tgz","integrity":"sha512-..."}]}
 * with `path` relative to /var/runtime and `tarball` relative to the registry root. */
#ifndef LBOX_SDK_H
#define LBOX_SDK_H

#include "../common/error.h"
#include "fetch.h"

/* Installs every package of `lock_path` into <root>/var/runtime/<path>. */
int lbox_sdk_install(struct lbox_fetcher *f, const char *lock_path, const char *npm_registry_flag,
                     const char *root, struct lbox_error *err);

#endif
