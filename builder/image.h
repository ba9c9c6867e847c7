/* OCI images: config + manifest written into the store, and exports out of it.
 *
 * Config: architecture amd64|arm64 (+ variant v8 for arm64), os linux, config.Env,
 * WorkingDir /var/task, Entrypoint ["/lambda-entrypoint.sh"], Cmd [handler], labels
 * dev.lbox.runtime / dev.lbox.arch / dev.lbox.handler / dev.lbox.node, rootfs.diff_ids, created = epoch
 * (RFC 3339), history one entry per layer. Same inputs, same bytes, same digest. */
#ifndef LBOX_IMAGE_H
#define LBOX_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "layer.h"
#include "store.h"

struct lbox_image_spec {
    const char *ref;              /* name:tag */
    const char *runtime;          /* nodejs18.x */
    const char *node_version;     /* 18.20.8; NULL: no dev.lbox.node label */
    const char *arch;             /* x86_64 | arm64 */
    const char *handler;          /* index.handler */
    const char *const *env;       /* "KEY=VALUE", NULL-terminated */
    const struct lbox_layer *layers;
    const char *const *layer_comments; /* one per layer, for history ("base", "node", ...) */
    size_t nlayers;
    int64_t created;              /* SOURCE_DATE_EPOCH */
};

/* Writes config and manifest blobs, tags ref. manifest_digest_out: 72 bytes. */
int lbox_image_commit(struct lbox_store *st, const struct lbox_image_spec *spec,
                      char *manifest_digest_out, struct lbox_error *err);

enum lbox_export_format {
    LBOX_EXPORT_OCI,        /* tar: OCI layout + legacy manifest.json (docker/podman load) */
    LBOX_EXPORT_DOCKER,     /* same archive plus the legacy "repositories" file */
    LBOX_EXPORT_ROOTFS,     /* a directory with the unpacked root filesystem */
    LBOX_EXPORT_ROOTFS_TAR, /* the unpacked root filesystem as one tar */
};
int lbox_export_format_parse(const char *s, enum lbox_export_format *f, struct lbox_error *err);

/* Whether lbox_image_export could write `out` in that format, checked before any work: its
 * folder exists; for a rootfs folder, `out` does not; for an archive, `out` is no folder. */
int lbox_export_check_target(const char *out, enum lbox_export_format fmt,
                             struct lbox_error *err);

/* Writes the image `ref` to `out` (temp name + rename; an existing `out` is an error for a
 * directory, replaced for a file). */
int lbox_image_export(struct lbox_store *st, const char *ref, const char *out,
                      enum lbox_export_format fmt, struct lbox_error *err);

/* What running an image needs from its config: lbox's labels (runtime, arch), the handler
 * (the dev.lbox.handler label, else Cmd[0], else index.handler), Env, and what Lambda's
 * INIT_START line names: the runtime's version and the build of it. */
struct lbox_image_facts {
    char *runtime;                /* "unknown" for an image lbox did not build */
    /* "nodejs:18.20.8" (the dev.lbox.node label; "nodejs:18" without it); NULL for an
     * image lbox did not build. Lambda's are "nodejs:18.v13": lbox has no such release
     * numbers, and the node version is what such a number stands for. */
    char *runtime_version;
    /* 64 hex digits naming the runtime's layers (base, node, runtime: the SHA-256 of their
     * diff_ids), so it changes exactly when the runtime does, as the hash in Lambda's
     * runtime version ARN does; NULL when the image has none of them. */
    char *runtime_build;
    char *arch;                   /* x86_64 | arm64; the host's when unlabelled */
    char *handler;
    char **env;                   /* "K=V", NULL-terminated */
};
int lbox_image_facts_read(struct lbox_store *st, const char *ref, struct lbox_image_facts *f,
                          struct lbox_error *err);
void lbox_image_facts_free(struct lbox_image_facts *f);

#endif
