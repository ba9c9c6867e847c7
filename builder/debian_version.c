/* Debian version order, as Debian Policy §5.6.12 defines it:
 * [epoch:]upstream[-revision]; epochs compare as numbers; upstream and revision compare
 * left to right in alternating runs of non-digits (letters before other characters, '~'
 * before everything, even the end) and digits (as numbers). A missing revision equals "0". */
#include "debian_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Weight of a character in a non-digit run; 0 marks the end of the run. */
static int weight(char c)
{
    if (c == '\0' || isdigit((unsigned char)c))
        return 0;
    if (c == '~')
        return -1;
    if (isalpha((unsigned char)c))
        return (unsigned char)c;
    return (unsigned char)c + 256;
}

/* Compares an upstream or revision part given as [a, ae) and [b, be). */
static int cmp_part(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae || b < be) {
        /* non-digit run */
        while ((a < ae && !isdigit((unsigned char)*a)) || (b < be && !isdigit((unsigned char)*b))) {
            int wa = a < ae ? weight(*a) : 0, wb = b < be ? weight(*b) : 0;
            if (wa != wb)
                return wa < wb ? -1 : 1;
            if (a < ae)
                a++;
            if (b < be)
                b++;
        }
        /* digit run, compared as numbers without overflow: skip zeros, then length, then digits */
        while (a < ae && *a == '0')
            a++;
        while (b < be && *b == '0')
            b++;
        const char *da = a, *db = b;
        while (a < ae && isdigit((unsigned char)*a))
            a++;
        while (b < be && isdigit((unsigned char)*b))
            b++;
        size_t la = (size_t)(a - da), lb = (size_t)(b - db);
        if (la != lb)
            return la < lb ? -1 : 1;
        int c = memcmp(da, db, la);
        if (c)
            return c < 0 ? -1 : 1;
    }
    return 0;
}

struct split {
    unsigned long epoch;
    const char *up, *up_end, *rev, *rev_end;
};

static void split_version(const char *v, struct split *s)
{
    const char *colon = strchr(v, ':');
    s->epoch = 0;
    if (colon) {
        s->epoch = strtoul(v, NULL, 10);
        v = colon + 1;
    }
    const char *end = v + strlen(v);
    const char *dash = strrchr(v, '-');
    s->up = v;
    if (dash) {
        s->up_end = dash;
        s->rev = dash + 1;
        s->rev_end = end;
    } else {
        s->up_end = end;
        s->rev = s->rev_end = end;
    }
}

int lbox_deb_version_cmp(const char *a, const char *b)
{
    struct split x, y;
    split_version(a, &x);
    split_version(b, &y);
    if (x.epoch != y.epoch)
        return x.epoch < y.epoch ? -1 : 1;
    int c = cmp_part(x.up, x.up_end, y.up, y.up_end);
    if (c)
        return c;
    return cmp_part(x.rev, x.rev_end, y.rev, y.rev_end);
}

int lbox_deb_version_satisfies(const char *have, const char *op, const char *want)
{
    int c = lbox_deb_version_cmp(have, want);
    if (strcmp(op, "=") == 0)
        return c == 0;
    if (strcmp(op, ">=") == 0 || strcmp(op, ">") == 0)
        return c >= 0;
    if (strcmp(op, "<=") == 0 || strcmp(op, "<") == 0)
        return c <= 0;
    if (strcmp(op, ">>") == 0)
        return c > 0;
    if (strcmp(op, "<<") == 0)
        return c < 0;
    return -1;
}
