/* Internal to code.c / code_check.c: the list of entries a code source holds, and the checks
 * run on it before anything is written. Not part of lbox's public contract. */
#ifndef LBOX_CODE_ENTRY_H
#define LBOX_CODE_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"

enum code_type { CODE_FILE, CODE_DIR, CODE_SYMLINK };

struct code_entry {
    char *path;     /* normalized: relative, no "", "." or ".." components, no trailing '/' */
    enum code_type type;
    mode_t mode;    /* permission bits to apply (already sanitized) */
    uint64_t size;  /* declared content size (files) */
    char *target;   /* symlink target, verbatim (symlinks) */
};

struct code_list {
    struct code_entry *v;
    size_t n, cap;
};

void code_list_add(struct code_list *l, char *path, enum code_type type, mode_t mode,
                   uint64_t size, char *target);
void code_list_free(struct code_list *l);

/* Normalizes an archive or directory entry name into *out (malloc'd; NULL when the name is
 * the root itself, e.g. "./"). Refuses absolute names, `..` components and over-long names
 * (libarchive already turned a zip's '\\' separators into '/') with an LBOX_E_ARCHIVE message naming `input` and the entry. */
int code_path_normalize(const char *input, const char *name, char **out, struct lbox_error *err);

/* Lambda's permission rule (see code.h): keeps rwx bits, drops setuid/setgid/sticky and
 * group/other write; no bits at all means "made without Unix permissions". */
mode_t code_sanitize_mode(mode_t mode, enum code_type type);

/* Checks every symlink of `l` as it will be once written over the current content of the
 * directory `rootfd` (see code.h for the rule). `root_label` is the root's path in the image. */
int code_check_symlinks(const struct code_list *l, int rootfd, const char *root_label,
                        const char *input, struct lbox_error *err);

#endif
