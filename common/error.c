#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Copies with truncation: a long message is cut, never overflows. */
static void set_msg(struct lbox_error *err, const char *s)
{
    size_t n = strlen(s);
    if (n >= sizeof err->msg)
        n = sizeof err->msg - 1;
    memcpy(err->msg, s, n);
    err->msg[n] = '\0';
}

int lbox_err(struct lbox_error *err, enum lbox_errcode code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

int lbox_err_errno(struct lbox_error *err, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    char head[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    enum lbox_errcode code = LBOX_E_IO;
    const char *hint = "";
    if (errnum == ENOSPC || errnum == EDQUOT) {
        code = LBOX_E_NOSPC;
        hint = " (free some disk space and try again)";
    }
    char full[sizeof head + 512];
    snprintf(full, sizeof full, "%s: %s%s", head, strerror(errnum), hint);
    set_msg(err, full);
    err->code = code;
    return -1;
}

int lbox_err_prefix(struct lbox_error *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char head[1024], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    char full[sizeof head + sizeof old + 2];
    snprintf(full, sizeof full, "%s: %s", head, old);
    set_msg(err, full);
    return -1;
}

const char *lbox_errcode_name(enum lbox_errcode code)
{
    static const char *const names[] = {
        [LBOX_OK] = "ok",           [LBOX_E_INVAL] = "invalid",   [LBOX_E_IO] = "io",
        [LBOX_E_NOSPC] = "no-space", [LBOX_E_NET] = "network",     [LBOX_E_DIGEST] = "digest",
        [LBOX_E_NOTFOUND] = "not-found", [LBOX_E_BUSY] = "busy",  [LBOX_E_LIMIT] = "limit",
        [LBOX_E_ARCHIVE] = "archive", [LBOX_E_SYS] = "system",    [LBOX_E_UNSUPPORTED] = "unsupported",
        [LBOX_E_OFFLINE] = "offline",
    };
    if ((unsigned)code < sizeof names / sizeof names[0] && names[code])
        return names[code];
    return "unknown";
}
