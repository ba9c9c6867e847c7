/* lbox error reporting: every library call that can fail returns -1 (or NULL) and fills a
 * struct lbox_error with a code and a human message that says what failed, where, and what
 * to do. Only the CLI prints errors and exits. */
#ifndef LBOX_ERROR_H
#define LBOX_ERROR_H

#include <stddef.h>

enum lbox_errcode {
    LBOX_OK = 0,
    LBOX_E_INVAL,       /* bad user input: flags, recipe, zip, event */
    LBOX_E_IO,          /* file system error */
    LBOX_E_NOSPC,       /* disk full */
    LBOX_E_NET,         /* download failed / host unreachable */
    LBOX_E_DIGEST,      /* checksum mismatch */
    LBOX_E_NOTFOUND,    /* image, package, file not found */
    LBOX_E_BUSY,        /* locked by another lbox process */
    LBOX_E_LIMIT,       /* a Lambda limit was exceeded */
    LBOX_E_ARCHIVE,     /* corrupt or unsafe archive */
    LBOX_E_SYS,         /* system call failed (namespaces, mounts, ...) */
    LBOX_E_UNSUPPORTED, /* not possible on this host */
    LBOX_E_OFFLINE,     /* --offline and not in cache */
};

struct lbox_error {
    enum lbox_errcode code;
    char msg[2048];
};

/* Sets *err (if non-NULL) and returns -1 so callers can `return lbox_err(...)`. */
int lbox_err(struct lbox_error *err, enum lbox_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like lbox_err, appending ": strerror(errno)"; maps ENOSPC/EDQUOT to LBOX_E_NOSPC. */
int lbox_err_errno(struct lbox_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context to an existing message: "context: old message". Returns -1. */
int lbox_err_prefix(struct lbox_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *lbox_errcode_name(enum lbox_errcode code);

#endif
