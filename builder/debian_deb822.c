/* A reader for deb822 stanzas: Release, Packages and apt's .sources files.
 *
 * Why our own: Debian's maintained parser lives in libapt-pkg, which is C++ and pulls in
 * apt's whole configuration system; there is no well-kept C library for this format. The
 * format is small (RFC 822-like "Name: value" lines, continuation lines start with a blank,
 * stanzas separated by blank lines, '#' comment lines in .sources), so this file holds all
 * of it and tests/unit/test_debian_deb822.c covers it.
 *
 * The reader never copies: fields are spans into the caller's buffer, so the 60k-stanza
 * Packages index is read without an allocation per field. */
#include "debian_internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "../common/fsutil.h"

void lbox_deb822_init(struct lbox_deb822 *r, const char *data, size_t len)
{
    r->p = data;
    r->end = data + len;
    r->line = 1;
}

static const char *line_end(const struct lbox_deb822 *r, const char *p)
{
    const char *nl = memchr(p, '\n', (size_t)(r->end - p));
    return nl ? nl : r->end;
}

static bool is_blank_line(const char *p, const char *eol)
{
    for (; p < eol; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r')
            return false;
    return true;
}

/* Moves past the line that ends at eol. */
static void advance(struct lbox_deb822 *r, const char *eol)
{
    r->p = eol < r->end ? eol + 1 : r->end;
    r->line++;
}

bool lbox_deb822_next_stanza(struct lbox_deb822 *r)
{
    while (r->p < r->end) {
        const char *eol = line_end(r, r->p);
        if (!is_blank_line(r->p, eol) && *r->p != '#')
            return true;
        advance(r, eol);
    }
    return false;
}

int lbox_deb822_next_field(struct lbox_deb822 *r, struct lbox_deb822_field *f, const char *what,
                           struct lbox_error *err)
{
    for (;;) {
        if (r->p >= r->end)
            return 0;
        const char *eol = line_end(r, r->p);
        if (is_blank_line(r->p, eol)) {
            advance(r, eol);
            return 0;
        }
        if (*r->p == '#') {
            advance(r, eol);
            continue;
        }
        if (*r->p == ' ' || *r->p == '\t')
            return lbox_err(err, LBOX_E_INVAL,
                            "%s line %zu: continuation line without a field (the file is corrupt)",
                            what, r->line);
        const char *colon = memchr(r->p, ':', (size_t)(eol - r->p));
        if (!colon || colon == r->p)
            return lbox_err(err, LBOX_E_INVAL, "%s line %zu: expected \"Name: value\"", what,
                            r->line);
        for (const char *q = r->p; q < colon; q++)
            if (isspace((unsigned char)*q))
                return lbox_err(err, LBOX_E_INVAL, "%s line %zu: blank inside a field name",
                                what, r->line);
        f->name = r->p;
        f->name_len = (size_t)(colon - r->p);
        f->line = r->line;
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        f->value = v;
        const char *vend = eol;
        advance(r, eol);
        /* Continuation lines (and comments between them, which .sources allows). */
        while (r->p < r->end) {
            const char *e = line_end(r, r->p);
            if (*r->p == '#') {
                advance(r, e);
                continue;
            }
            if ((*r->p != ' ' && *r->p != '\t') || is_blank_line(r->p, e))
                break;
            vend = e;
            advance(r, e);
        }
        while (vend > v && isspace((unsigned char)vend[-1]))
            vend--;
        f->value_len = (size_t)(vend - v);
        return 1;
    }
}

bool lbox_deb822_is(const struct lbox_deb822_field *f, const char *name)
{
    return strlen(name) == f->name_len && strncasecmp(f->name, name, f->name_len) == 0;
}

char *lbox_deb822_value_dup(const struct lbox_deb822_field *f)
{
    char *out = lbox_xmalloc(f->value_len + 1);
    size_t n = 0;
    const char *p = f->value, *end = f->value + f->value_len;
    bool first = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        bool comment = !first && *p == '#';
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (!comment && b > a) {
            if (n)
                out[n++] = '\n';
            memcpy(out + n, a, (size_t)(b - a));
            n += (size_t)(b - a);
        }
        first = false;
        p = nl ? nl + 1 : end;
    }
    out[n] = '\0';
    return out;
}
