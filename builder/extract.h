/* Extraction of digest-verified archives (release tarballs, npm packages) into a staging
 * tree with libarchive. Only entries under `strip` are taken, re-rooted at `dest`; names
 * with ".." or a leading "/" are refused; links may not lead out of `dest`. */
#ifndef LBOX_EXTRACT_H
#define LBOX_EXTRACT_H

#include <stdbool.h>

#include "../common/error.h"

struct archive;

/* Whether a result `r` of libarchive's disk writer means the tree on disk is not what the
 * archive holds. A failed write(2), a full disk included, comes back from a data write as a
 * mere ARCHIVE_WARN (and finishing the entry then pads the file with zeros to its size), so
 * any warning on data (`data`) fails; on a header or finish_entry, a warning fails when
 * the disk failed (ENOSPC, EDQUOT, EIO), not for a time or mode it could not restore. */
bool lbox_archive_write_failed(struct archive *out, int r, bool data);

/* keep: NULL-terminated list of path prefixes (relative, after stripping) to extract;
 * NULL keeps everything. */
int lbox_extract_subtree(const char *archive_path, const char *strip, const char *dest,
                         const char *const *keep, struct lbox_error *err);

#endif
