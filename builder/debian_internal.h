/* Pieces of the Debian source shared between builder/debian_*.c and their unit tests.
 * Not part of the builder's contract (that is debian.h). */
#ifndef LBOX_DEBIAN_INTERNAL_H
#define LBOX_DEBIAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "debian.h"

/* ---- deb822 stanza reader (debian_deb822.c) ---- */

struct lbox_deb822 {
    const char *p, *end;
    size_t line; /* 1-based line of p */
};

struct lbox_deb822_field {
    const char *name;
    size_t name_len;
    const char *value;     /* after "Name:" and leading blanks; continuation lines included */
    size_t value_len;      /* trailing blanks/newlines excluded */
    size_t line;
};

void lbox_deb822_init(struct lbox_deb822 *r, const char *data, size_t len);
/* Skips blank and comment lines. Returns true if a stanza follows, false at the end. */
bool lbox_deb822_next_stanza(struct lbox_deb822 *r);
/* Returns 1 with *f filled, 0 at the end of the stanza, -1 on a malformed line (err names
 * `what` and the line). */
int lbox_deb822_next_field(struct lbox_deb822 *r, struct lbox_deb822_field *f, const char *what,
                           struct lbox_error *err);
/* Case-insensitive field-name match, as deb822 requires. */
bool lbox_deb822_is(const struct lbox_deb822_field *f, const char *name);
/* The value with continuation lines joined by '\n' and each line trimmed; malloc'd. */
char *lbox_deb822_value_dup(const struct lbox_deb822_field *f);

/* ---- versions (debian_version.c) ---- */

/* Debian's order (epoch, upstream, revision; '~' before everything). <0, 0, >0. */
int lbox_deb_version_cmp(const char *a, const char *b);
/* op is one of "=", ">=", "<=", ">>", "<<" (and the obsolete "<" / ">" meaning <= / >=).
 * Returns -1 for an unknown operator. */
int lbox_deb_version_satisfies(const char *have, const char *op, const char *want);

/* ---- mirror from apt configuration (debian_mirror.c) ---- */

/* The apt part of lbox_debian_pick_mirror, reading <apt_dir>/sources.list and
 * <apt_dir>/sources.list.d/. Returns 0 with *mirror set, 1 when nothing matches, -1 on a
 * read error. */
int lbox_debian_mirror_from_apt(const char *apt_dir, const char *suite, char **mirror,
                                struct lbox_error *err);

/* ---- Packages index (debian_index.c) ---- */

struct lbox_deb_provide {
    const char *name;     /* the virtual (or real) name provided */
    const char *version;  /* "(= v)" version or NULL */
    size_t pkg;           /* index into lbox_deb_index.pkgs */
};

struct lbox_deb_index_pkg {
    /* All strings point into the index's buffers (NUL-terminated in place). */
    const char *name, *version, *arch, *multi_arch;
    const char *depends, *pre_depends, *provides;
    const char *filename, *sha256;
    uint64_t size, installed_kb;
    int priority;         /* higher = more important: required 5 … extra 1, none 0 */
};

struct lbox_deb_index {
    struct lbox_deb_index_pkg *pkgs; /* sorted by name, one per name (highest version) */
    size_t n, cap;
    struct lbox_deb_provide *provides; /* sorted by name, then provider name */
    size_t nprovides;
    char **bufs;                      /* owned text buffers the strings point into */
    size_t nbufs;
    char **strs;                      /* owned small strings (parsed Provides names) */
    size_t nstrs;
};

/* Parses one Packages file. Takes ownership of `buf` (len bytes + a NUL at buf[len]) and
 * edits it in place. Only stanzas for `arch` or "all" are kept. `what` names the file in
 * errors. Call lbox_deb_index_finish after the last file. */
int lbox_deb_index_add(struct lbox_deb_index *idx, char *buf, size_t len, const char *arch,
                       const char *what, struct lbox_error *err);
void lbox_deb_index_finish(struct lbox_deb_index *idx);
const struct lbox_deb_index_pkg *lbox_deb_index_find(const struct lbox_deb_index *idx,
                                                     const char *name);
/* Range of provides entries for `name` (possibly empty). */
const struct lbox_deb_provide *lbox_deb_index_providers(const struct lbox_deb_index *idx,
                                                        const char *name, size_t *count);
void lbox_deb_index_free(struct lbox_deb_index *idx);

/* Release file: the SHA256 entry for `path` (e.g. "main/binary-amd64/Packages.xz").
 * Returns 1 with hex (65 bytes) and size filled, 0 if absent, -1 if malformed. */
struct lbox_deb_release {
    char *suite, *codename, *architectures, *components;
    bool by_hash;
    char *sha256;         /* the raw multi-line SHA256 field */
};
int lbox_deb_release_parse(const char *data, size_t len, const char *what,
                           struct lbox_deb_release *rel, struct lbox_error *err);
int lbox_deb_release_lookup(const struct lbox_deb_release *rel, const char *path, char *hex,
                            uint64_t *size);
void lbox_deb_release_free(struct lbox_deb_release *rel);

/* Decompresses (or copies) a file with libarchive's raw format and every filter, up to
 * `limit` bytes. *out is NUL-terminated. */
int lbox_deb_decompress_file(const char *path, size_t limit, char **out, size_t *len,
                             struct lbox_error *err);

/* ---- resolution (debian_resolve.c) ---- */

/* Resolves over an already-built index; `where` describes the index in errors
 * (e.g. "bookworm main (amd64) at <mirror>"). */
int lbox_deb_resolve_index(const struct lbox_deb_index *idx, const char *arch,
                           const char *const *wanted, size_t nwanted, const char *where,
                           struct lbox_deb_set *out, struct lbox_error *err);

/* ---- extraction (debian_extract.c) ---- */

/* Extracts the data.tar.* of one .deb file into `root` (an existing, symlink-free absolute
 * directory with the merged-/usr links in place). `what` names the package in errors. */
int lbox_deb_extract(const char *deb_path, const char *root, const char *what,
                     struct lbox_error *err);
/* Creates usr/{bin,sbin,lib,lib64} and the bin, sbin, lib, lib64 links to them. */
int lbox_deb_merged_usr(const char *root, struct lbox_error *err);
/* Maps a data.tar entry name to its place in a merged-/usr root: strips "./", refuses
 * absolute names and ".." (returns -1), returns 0 with *out malloc'd, or 1 for entries to
 * skip (the root itself, docs, the merged top-level directories). */
int lbox_deb_map_path(const char *name, char **out);
/* For a symlink moved from `orig` to `mapped` by lbox_deb_map_path: its target adjusted so
 * it still points where it did (malloc'd). */
char *lbox_deb_map_symlink(const char *orig, const char *mapped, const char *target);

#endif
