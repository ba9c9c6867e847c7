/* The archive's metadata: the Release file (which indexes exist, with their SHA256) and the
 * Packages indexes (one stanza per binary package). The Packages text stays in memory and
 * package fields point into it: bookworm's main index is ~60k stanzas, ~45 MB. */
#include "debian_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

/* ---- Release ---- */

int lbox_deb_release_parse(const char *data, size_t len, const char *what,
                           struct lbox_deb_release *rel, struct lbox_error *err)
{
    memset(rel, 0, sizeof *rel);
    struct lbox_deb822 r;
    lbox_deb822_init(&r, data, len);
    if (!lbox_deb822_next_stanza(&r))
        return lbox_err(err, LBOX_E_INVAL, "%s is empty", what);
    struct lbox_deb822_field f;
    int rc;
    while ((rc = lbox_deb822_next_field(&r, &f, what, err)) == 1) {
        char **slot = NULL;
        if (lbox_deb822_is(&f, "Suite"))
            slot = &rel->suite;
        else if (lbox_deb822_is(&f, "Codename"))
            slot = &rel->codename;
        else if (lbox_deb822_is(&f, "Architectures"))
            slot = &rel->architectures;
        else if (lbox_deb822_is(&f, "Components"))
            slot = &rel->components;
        else if (lbox_deb822_is(&f, "SHA256"))
            slot = &rel->sha256;
        else if (lbox_deb822_is(&f, "Acquire-By-Hash"))
            rel->by_hash = f.value_len == 3 && strncasecmp(f.value, "yes", 3) == 0;
        if (slot) {
            free(*slot);
            *slot = lbox_deb822_value_dup(&f);
        }
    }
    if (rc < 0) {
        lbox_deb_release_free(rel);
        return -1;
    }
    if (!rel->sha256) {
        lbox_deb_release_free(rel);
        return lbox_err(err, LBOX_E_INVAL,
                        "%s has no SHA256 list, so its indexes cannot be verified "
                        "(is this a Debian archive's Release file?)",
                        what);
    }
    return 0;
}

int lbox_deb_release_lookup(const struct lbox_deb_release *rel, const char *path, char *hex,
                            uint64_t *size)
{
    const char *p = rel->sha256;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char h[65], name[512];
        unsigned long long sz;
        _cleanup_free_ char *line = lbox_strdupf("%.*s", (int)n, p);
        p += n + (eol ? 1 : 0);
        if (sscanf(line, "%64s %llu %511s", h, &sz, name) != 3)
            return -1;
        if (strcmp(name, path) != 0)
            continue;
        if (strlen(h) != 64 || strspn(h, "0123456789abcdefABCDEF") != 64)
            return -1;
        for (int i = 0; i < 64; i++)
            hex[i] = (char)tolower((unsigned char)h[i]);
        hex[64] = '\0';
        *size = sz;
        return 1;
    }
    return 0;
}

void lbox_deb_release_free(struct lbox_deb_release *rel)
{
    free(rel->suite);
    free(rel->codename);
    free(rel->architectures);
    free(rel->components);
    free(rel->sha256);
    memset(rel, 0, sizeof *rel);
}

/* ---- decompression ---- */

int lbox_deb_decompress_file(const char *path, size_t limit, char **out, size_t *len,
                             struct lbox_error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    struct archive_entry *e;
    int rc = archive_read_open_filename(a, path, 1 << 16);
    if (rc == ARCHIVE_OK)
        rc = archive_read_next_header(a, &e);
    size_t cap = 1 << 20, n = 0;
    char *buf = lbox_xmalloc(cap + 1);
    if (rc == ARCHIVE_OK) {
        for (;;) {
            if (cap - n < (1 << 16)) {
                cap *= 2;
                buf = lbox_xrealloc(buf, cap + 1);
            }
            la_ssize_t r = archive_read_data(a, buf + n, cap - n);
            if (r < 0) {
                rc = ARCHIVE_FATAL;
                break;
            }
            if (r == 0)
                break;
            n += (size_t)r;
            if (n > limit) {
                free(buf);
                archive_read_free(a);
                return lbox_err(err, LBOX_E_LIMIT,
                                "%s decompresses to more than %zu bytes; refusing it", path, limit);
            }
        }
    } else if (rc == ARCHIVE_EOF) {
        rc = ARCHIVE_OK; /* empty input */
    }
    if (rc != ARCHIVE_OK) {
        int r = lbox_err(err, LBOX_E_ARCHIVE, "cannot decompress %s: %s", path,
                         archive_error_string(a) ? archive_error_string(a) : "unknown error");
        free(buf);
        archive_read_free(a);
        return r;
    }
    archive_read_free(a);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* ---- Packages ---- */

static int priority_rank(const char *p)
{
    static const char *const names[] = {"extra", "optional", "standard", "important", "required"};
    for (int i = 0; i < 5; i++)
        if (strcmp(p, names[i]) == 0)
            return i + 1;
    return 0;
}

/* Terminates a field's value in place and folds continuation lines into one line. */
static const char *terminate(struct lbox_deb822_field *f)
{
    char *v = (char *)f->value;
    v[f->value_len] = '\0';
    for (char *c = v; *c; c++)
        if (*c == '\n' || *c == '\t' || *c == '\r')
            *c = ' ';
    return v;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static void push_buf(struct lbox_deb_index *idx, char *buf)
{
    idx->bufs = lbox_xrealloc(idx->bufs, (idx->nbufs + 1) * sizeof *idx->bufs);
    idx->bufs[idx->nbufs++] = buf;
}

int lbox_deb_index_add(struct lbox_deb_index *idx, char *buf, size_t len, const char *arch,
                       const char *what, struct lbox_error *err)
{
    push_buf(idx, buf);
    struct lbox_deb822 r;
    lbox_deb822_init(&r, buf, len);
    while (lbox_deb822_next_stanza(&r)) {
        size_t stanza_line = r.line;
        struct lbox_deb822_field f;
        struct lbox_deb_index_pkg p = {0};
        const char *size = NULL, *isize = NULL, *prio = NULL;
        int rc;
        while ((rc = lbox_deb822_next_field(&r, &f, what, err)) == 1) {
            const char **slot = NULL;
            if (lbox_deb822_is(&f, "Package"))
                slot = &p.name;
            else if (lbox_deb822_is(&f, "Version"))
                slot = &p.version;
            else if (lbox_deb822_is(&f, "Architecture"))
                slot = &p.arch;
            else if (lbox_deb822_is(&f, "Multi-Arch"))
                slot = &p.multi_arch;
            else if (lbox_deb822_is(&f, "Depends"))
                slot = &p.depends;
            else if (lbox_deb822_is(&f, "Pre-Depends"))
                slot = &p.pre_depends;
            else if (lbox_deb822_is(&f, "Provides"))
                slot = &p.provides;
            else if (lbox_deb822_is(&f, "Filename"))
                slot = &p.filename;
            else if (lbox_deb822_is(&f, "SHA256"))
                slot = &p.sha256;
            else if (lbox_deb822_is(&f, "Size"))
                slot = &size;
            else if (lbox_deb822_is(&f, "Installed-Size"))
                slot = &isize;
            else if (lbox_deb822_is(&f, "Priority"))
                slot = &prio;
            if (slot)
                *slot = terminate(&f);
        }
        if (rc < 0)
            return -1;
        if (!p.name || !p.version || !p.arch)
            return lbox_err(err, LBOX_E_INVAL,
                            "%s: the stanza at line %zu lacks Package, Version or Architecture "
                            "(the index is corrupt)",
                            what, stanza_line);
        if (strcmp(p.arch, arch) != 0 && strcmp(p.arch, "all") != 0)
            continue;
        if (!p.filename || !p.sha256 || !size || !parse_u64(size, &p.size) ||
            strlen(p.sha256) != 64 || strspn(p.sha256, "0123456789abcdef") != 64)
            return lbox_err(err, LBOX_E_INVAL,
                            "%s: package %s (line %zu) lacks a valid Filename, Size or SHA256",
                            what, p.name, stanza_line);
        if (isize && !parse_u64(isize, &p.installed_kb))
            p.installed_kb = 0;
        p.priority = prio ? priority_rank(prio) : 0;
        if (idx->n == idx->cap) {
            idx->cap = idx->cap ? idx->cap * 2 : 1024;
            idx->pkgs = lbox_xrealloc(idx->pkgs, idx->cap * sizeof *idx->pkgs);
        }
        idx->pkgs[idx->n++] = p;
    }
    return 0;
}

/* Name ascending, then version descending (so the first of a name is the one to keep),
 * then Filename to make ties deterministic. */
static int cmp_pkg(const void *a, const void *b)
{
    const struct lbox_deb_index_pkg *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    c = lbox_deb_version_cmp(y->version, x->version);
    if (c)
        return c;
    return strcmp(x->filename, y->filename);
}

static int cmp_provide(const void *a, const void *b)
{
    const struct lbox_deb_provide *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->pkg > y->pkg) - (x->pkg < y->pkg);
}

static const char *own_str(struct lbox_deb_index *idx, const char *s, size_t n)
{
    idx->strs = lbox_xrealloc(idx->strs, (idx->nstrs + 1) * sizeof *idx->strs);
    char *copy = lbox_strdupf("%.*s", (int)n, s);
    idx->strs[idx->nstrs++] = copy;
    return copy;
}

/* "name [(= version)], ..." → provides entries for package i. Malformed items are skipped:
 * a Provides we cannot read only makes that virtual name unavailable. */
static void add_provides(struct lbox_deb_index *idx, size_t i, size_t *cap)
{
    const char *p = idx->pkgs[i].provides;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *name = p;
        while (*p && !strchr(" ,(:", *p))
            p++;
        size_t nlen = (size_t)(p - name);
        const char *ver = NULL;
        size_t vlen = 0;
        while (*p && *p != ',' && *p != '(')
            p++;
        if (*p == '(') {
            const char *close = strchr(p, ')');
            const char *eq = strchr(p, '=');
            if (close && eq && eq < close) {
                ver = eq + 1;
                while (*ver == ' ')
                    ver++;
                vlen = (size_t)(close - ver);
                while (vlen && ver[vlen - 1] == ' ')
                    vlen--;
            }
            p = close ? close + 1 : p + strlen(p);
        }
        while (*p && *p != ',')
            p++;
        if (nlen == 0)
            continue;
        if (idx->nprovides == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            idx->provides = lbox_xrealloc(idx->provides, *cap * sizeof *idx->provides);
        }
        idx->provides[idx->nprovides++] = (struct lbox_deb_provide){
            .name = own_str(idx, name, nlen),
            .version = ver ? own_str(idx, ver, vlen) : NULL,
            .pkg = i,
        };
    }
}

void lbox_deb_index_finish(struct lbox_deb_index *idx)
{
    if (idx->n)
        qsort(idx->pkgs, idx->n, sizeof *idx->pkgs, cmp_pkg);
    size_t w = 0;
    for (size_t i = 0; i < idx->n; i++)
        if (w == 0 || strcmp(idx->pkgs[w - 1].name, idx->pkgs[i].name) != 0)
            idx->pkgs[w++] = idx->pkgs[i];
    idx->n = w;
    size_t cap = 0;
    for (size_t i = 0; i < idx->n; i++)
        add_provides(idx, i, &cap);
    if (idx->nprovides)
        qsort(idx->provides, idx->nprovides, sizeof *idx->provides, cmp_provide);
}

const struct lbox_deb_index_pkg *lbox_deb_index_find(const struct lbox_deb_index *idx,
                                                     const char *name)
{
    size_t lo = 0, hi = idx->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(idx->pkgs[mid].name, name);
        if (c == 0)
            return &idx->pkgs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct lbox_deb_provide *lbox_deb_index_providers(const struct lbox_deb_index *idx,
                                                        const char *name, size_t *count)
{
    size_t lo = 0, hi = idx->nprovides;
    while (lo < hi) { /* first entry >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(idx->provides[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < idx->nprovides && strcmp(idx->provides[end].name, name) == 0)
        end++;
    *count = end - lo;
    return idx->provides + lo;
}

void lbox_deb_index_free(struct lbox_deb_index *idx)
{
    for (size_t i = 0; i < idx->nbufs; i++)
        free(idx->bufs[i]);
    for (size_t i = 0; i < idx->nstrs; i++)
        free(idx->strs[i]);
    free(idx->bufs);
    free(idx->strs);
    free(idx->pkgs);
    free(idx->provides);
    memset(idx, 0, sizeof *idx);
}
