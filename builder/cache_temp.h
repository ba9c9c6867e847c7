#ifndef LBOX_BUILDER_CACHE_TEMP_H
#define LBOX_BUILDER_CACHE_TEMP_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

/* Temporary entries in the cache (downloads, build staging folders, unpacked images in
 * progress): their maker holds an exclusive flock on each until it renames or deletes it.
 * An entry nobody holds was left by an lbox that was killed (Ctrl-C, kill -9, a crash), so
 * any later lbox may delete it at once, whatever its age, without ever touching the work of
 * one still running.
 *
 * lbox_cache_temp makes `tmpl` (ending in XXXXXX) a new file (dir false; *fd open for
 * writing) or folder (dir true; *fd open on it), locked; closing *fd drops the lock. */
int lbox_cache_temp(char *tmpl, bool dir, int *fd, struct lbox_error *err);

/* Locks `path`, an entry this process just made under a temporary name some other way (a
 * hard link): 0 and *fd when locked, -1 when a sweep took it first (make another). */
int lbox_cache_lock_temp(const char *path, int *fd);

/* A lock file that is deleted when its holder is done, so that a folder of locks does not
 * keep one file per name ever locked: its holder deletes it before closing *fd, and
 * lbox_cache_sweep takes those nobody holds. Having locked the file, the caller checks
 * that it is still the one at `path` (not one deleted meanwhile), or tries again.
 * Returns 0 with *fd locked, 1 when another process holds it, -1 on an error. */
int lbox_cache_lock_file(const char *path, int *fd, struct lbox_error *err);

/* Deletes the entries of `dir` whose names `is_temp` accepts and nobody holds (files and
 * folders alike); returns how many. Best effort: what cannot be deleted is left. */
size_t lbox_cache_sweep(const char *dir, bool (*is_temp)(const char *name));

/* The same beside a file or folder the user asked for: deletes the `<path>.lbox-tmp-XXXXXX`
 * entries (what lbox_out_open in common/fsutil.h names, and what a killed export of a rootfs
 * folder leaves) that nobody holds. Other names next to `path` are never touched. */
size_t lbox_cache_sweep_siblings(const char *path);

#endif
