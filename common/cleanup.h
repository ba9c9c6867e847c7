/* Scope-bound cleanup helpers: `_cleanup_free_ char *p = NULL;` frees p on every return path. */
#ifndef LBOX_CLEANUP_H
#define LBOX_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void lbox_freep(void *p) { free(*(void **)p); }
static inline void lbox_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void lbox_fclosep(FILE **f) { if (*f) fclose(*f); }

#define _cleanup_free_ __attribute__((cleanup(lbox_freep)))
#define _cleanup_close_ __attribute__((cleanup(lbox_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(lbox_fclosep)))

#endif
