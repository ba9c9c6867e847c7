/* Dependency resolution over a Packages index: from the wanted names to the closed set of
 * packages to install, following Pre-Depends and Depends.
 *
 * The choice rules are apt's where they matter for a curated base image and simpler
 * elsewhere: all wanted packages are selected before any dependency is followed, so a
 * group "a | b" is satisfied by whatever is already in; otherwise the first alternative
 * that can be had wins; a virtual name goes to a selected provider, else to the provider
 * with the highest Priority, then the smallest name. Conflicts and Breaks are not checked:
 * the wanted list is curated, not user input. */
#include "debian_internal.h"

#include <stdlib.h>
#include <string.h>

#include "../common/fsutil.h"

struct alt {
    char name[256];
    char qual[64];     /* arch qualifier after ':' or "" */
    char op[3];        /* "" when unversioned */
    char version[256];
};

struct resolver {
    const struct lbox_deb_index *idx;
    const char *arch;
    const char *where;
    bool *selected;
    size_t *queue;
    size_t qhead, qtail;
};

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses one alternative in [p, end): name[:qual] [(op version)] [arch list] [<profiles>].
 * Returns false when it cannot be read. */
static bool parse_alt(const char *p, const char *end, struct alt *a)
{
    memset(a, 0, sizeof *a);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *n = p;
    while (p < end && !strchr(" \t(:[<", *p))
        p++;
    size_t nlen = (size_t)(p - n);
    if (nlen == 0 || nlen >= sizeof a->name)
        return false;
    memcpy(a->name, n, nlen);
    if (p < end && *p == ':') {
        const char *q = ++p;
        while (p < end && !strchr(" \t(:[<", *p))
            p++;
        if ((size_t)(p - q) >= sizeof a->qual)
            return false;
        memcpy(a->qual, q, (size_t)(p - q));
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && *p == '(') {
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *o = p;
        while (p < end && strchr("<=>", *p))
            p++;
        size_t olen = (size_t)(p - o);
        if (olen == 0 || olen >= sizeof a->op)
            return false;
        memcpy(a->op, o, olen);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *v = p;
        while (p < end && *p != ')' && *p != ' ' && *p != '\t')
            p++;
        size_t vlen = (size_t)(p - v);
        if (vlen == 0 || vlen >= sizeof a->version)
            return false;
        memcpy(a->version, v, vlen);
        if (!memchr(p, ')', (size_t)(end - p)))
            return false;
    }
    return true;
}

static bool arch_ok(const struct resolver *r, const struct alt *a)
{
    return !a->qual[0] || strcmp(a->qual, "any") == 0 || strcmp(a->qual, "native") == 0 ||
           strcmp(a->qual, r->arch) == 0;
}

static bool version_ok(const char *have, const struct alt *a)
{
    if (!a->op[0])
        return true;
    return have && lbox_deb_version_satisfies(have, a->op, a->version) == 1;
}

static size_t pkg_index(const struct resolver *r, const struct lbox_deb_index_pkg *p)
{
    return (size_t)(p - r->idx->pkgs);
}

/* A package that satisfies `a`; only already-selected ones when `selected_only`. Returns
 * (size_t)-1 when there is none. */
static size_t candidate(const struct resolver *r, const struct alt *a, bool selected_only)
{
    if (!arch_ok(r, a))
        return (size_t)-1;
    const struct lbox_deb_index_pkg *real = lbox_deb_index_find(r->idx, a->name);
    if (real && version_ok(real->version, a) && (!selected_only || r->selected[pkg_index(r, real)]))
        return pkg_index(r, real);
    size_t n, best = (size_t)-1;
    const struct lbox_deb_provide *pv = lbox_deb_index_providers(r->idx, a->name, &n);
    for (size_t i = 0; i < n; i++) {
        /* A versioned dependency is only met by a versioned Provides (Debian Policy 7.5). */
        if (a->op[0] && !version_ok(pv[i].version, a))
            continue;
        size_t k = pv[i].pkg;
        if (r->selected[k])
            return k;
        if (selected_only)
            continue;
        const struct lbox_deb_index_pkg *c = &r->idx->pkgs[k], *b = best == (size_t)-1 ? NULL : &r->idx->pkgs[best];
        if (!b || c->priority > b->priority || (c->priority == b->priority && strcmp(c->name, b->name) < 0))
            best = k;
    }
    return selected_only ? (size_t)-1 : best;
}

static void select_pkg(struct resolver *r, size_t k)
{
    if (r->selected[k])
        return;
    r->selected[k] = true;
    r->queue[r->qtail++] = k;
}

/* Returns p and sets *end to the next `sep` in it, or to its end. */
static const char *next_piece(const char *p, char sep, const char **end)
{
    const char *e = strchr(p, sep);
    *end = e ? e : p + strlen(p);
    return p;
}

static int follow(struct resolver *r, size_t k, const char *field, const char *field_name,
                  struct lbox_error *err)
{
    const struct lbox_deb_index_pkg *pkg = &r->idx->pkgs[k];
    const char *p = field;
    while (p && *p) {
        const char *gend;
        const char *g = next_piece(p, ',', &gend);
        p = *gend ? gend + 1 : gend;
        g = skip_blank(g);
        if (g == gend)
            continue;
        /* Pass 1: is the group met by something already selected? Pass 2: pick. */
        size_t chosen = (size_t)-1;
        for (int pass = 0; pass < 2 && chosen == (size_t)-1; pass++) {
            const char *q = g;
            while (q < gend && chosen == (size_t)-1) {
                const char *aend = memchr(q, '|', (size_t)(gend - q));
                if (!aend)
                    aend = gend;
                struct alt a;
                if (!parse_alt(q, aend, &a))
                    return lbox_err(err, LBOX_E_INVAL,
                                    "package %s %s: cannot read %s entry \"%.*s\" in %s",
                                    pkg->name, pkg->version, field_name, (int)(gend - g), g,
                                    r->where);
                chosen = candidate(r, &a, pass == 0);
                q = aend < gend ? aend + 1 : gend;
            }
        }
        if (chosen == (size_t)-1) {
            int glen = (int)(gend - g);
            while (glen > 0 && (g[glen - 1] == ' ' || g[glen - 1] == '\t'))
                glen--;
            return lbox_err(err, LBOX_E_NOTFOUND,
                            "package %s %s %s \"%.*s\", which nothing in %s satisfies",
                            pkg->name, pkg->version, field_name, glen, g, r->where);
        }
        select_pkg(r, chosen);
    }
    return 0;
}

static void copy_pkg(struct lbox_deb_pkg *d, const struct lbox_deb_index_pkg *s)
{
    d->name = lbox_xstrdup(s->name);
    d->version = lbox_xstrdup(s->version);
    d->arch = lbox_xstrdup(s->arch);
    d->filename = lbox_xstrdup(s->filename);
    d->sha256 = lbox_xstrdup(s->sha256);
    d->size = s->size;
    d->installed_kb = s->installed_kb;
}

int lbox_deb_resolve_index(const struct lbox_deb_index *idx, const char *arch,
                           const char *const *wanted, size_t nwanted, const char *where,
                           struct lbox_deb_set *out, struct lbox_error *err)
{
    memset(out, 0, sizeof *out);
    struct resolver r = {
        .idx = idx,
        .arch = arch,
        .where = where,
        .selected = lbox_xcalloc(idx->n ? idx->n : 1, sizeof(bool)),
        .queue = lbox_xcalloc(idx->n ? idx->n : 1, sizeof(size_t)),
    };
    int rc = 0;
    for (size_t i = 0; i < nwanted && rc == 0; i++) {
        struct alt a;
        if (!parse_alt(wanted[i], wanted[i] + strlen(wanted[i]), &a) || a.op[0] || a.qual[0]) {
            rc = lbox_err(err, LBOX_E_INVAL,
                          "\"%s\" is not a Debian package name (give bare names like \"bash\")",
                          wanted[i]);
            break;
        }
        size_t k = candidate(&r, &a, false);
        if (k == (size_t)-1)
            rc = lbox_err(err, LBOX_E_NOTFOUND,
                          "Debian package \"%s\" is not in %s (check the name in the recipe's "
                          "package list)",
                          wanted[i], where);
        else
            select_pkg(&r, k);
    }
    while (rc == 0 && r.qhead < r.qtail) {
        size_t k = r.queue[r.qhead++];
        const struct lbox_deb_index_pkg *p = &idx->pkgs[k];
        if (p->pre_depends)
            rc = follow(&r, k, p->pre_depends, "pre-depends on", err);
        if (rc == 0 && p->depends)
            rc = follow(&r, k, p->depends, "depends on", err);
    }
    if (rc == 0) {
        out->pkgs = lbox_xcalloc(r.qtail ? r.qtail : 1, sizeof *out->pkgs);
        for (size_t k = 0; k < idx->n; k++) /* the index is sorted by name */
            if (r.selected[k])
                copy_pkg(&out->pkgs[out->n++], &idx->pkgs[k]);
    }
    free(r.selected);
    free(r.queue);
    return rc == 0 ? 0 : -1;
}
