/* A library loaded at run time rather than linked, for the ones only some commands need
 * (libcurl for downloads, libmicrohttpd for the Runtime API): loading them costs every
 * command at start otherwise. */
#ifndef LBOX_COMMON_DL_H
#define LBOX_COMMON_DL_H

#include <stddef.h>

/* One call to look up: its name in the library, and where its address goes. */
struct lbox_dl_symbol {
    const char *name;
    void **slot;
};

/* dlopen()s `soname` and fills every slot; the library stays loaded for the process.
 * Returns 0, or -1 with `failure` saying what is missing (the loader's message, or the
 * call the library lacks). */
int lbox_dl_load(const char *soname, const struct lbox_dl_symbol *want, size_t n,
                 char *failure, size_t size);

#endif
