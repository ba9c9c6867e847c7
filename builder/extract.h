/* Extraction of digest-verified archives (release tarballs, npm packages) into a staging
 * tree with libarchive. Only entries under `strip` are taken, re-rooted at `dest`; names
 * with ".." or a leading "/" are refused; links may not lead out of `dest`. */
#ifndef LBOX_EXTRACT_H
#define LBOX_EXTRACT_H

#include "../common/error.h"

/* keep: NULL-terminated list of path prefixes (relative, after stripping) to extract;
 * NULL keeps everything. */
int lbox_extract_subtree(const char *archive_path, const char *strip, const char *dest,
                         const char *const *keep, struct lbox_error *err);

#endif
