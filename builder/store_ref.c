/* Image references: "name[:tag]" validated and normalised the way engines expect. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "store.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* One path component of a repository name: [a-z0-9]+ joined by '.', '_', "__" or '-'s. */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* A registry host: contains '.' or ':' or is "localhost"; [A-Za-z0-9.-]+ with optional :port. */
static bool is_domain(const char *s, size_t n)
{
    return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !memcmp(s, "localhost", 9));
}

static bool valid_domain(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != ':')
            return false;
    return true;
}

static bool valid_tag(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

char *lbox_ref_normalize(const char *ref, struct lbox_error *err)
{
    if (!ref || !*ref || strlen(ref) > 255 || strchr(ref, '@')) {
        lbox_err(err, LBOX_E_INVAL, "'%s' is not an image name; use name[:tag], "
                 "e.g. hello:latest", ref ? ref : "");
        return NULL;
    }
    const char *slash = strrchr(ref, '/');
    const char *colon = strrchr(ref, ':');
    _cleanup_free_ char *name = NULL;
    const char *tag = "latest";
    if (colon && (!slash || colon > slash)) {
        name = strndup(ref, (size_t)(colon - ref));
        tag = colon + 1;
    } else {
        name = lbox_xstrdup(ref);
    }
    bool ok = name && valid_tag(tag);
    const char *p = name;
    if (ok) {
        const char *first_end = strchr(p, '/');
        if (first_end && is_domain(p, (size_t)(first_end - p))) {
            ok = valid_domain(p, (size_t)(first_end - p));
            p = first_end + 1;
        }
    }
    while (ok) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        ok = valid_component(p, n);
        if (!end)
            break;
        p = end + 1;
    }
    if (!ok) {
        lbox_err(err, LBOX_E_INVAL, "'%s' is not a valid image name: use lowercase letters, "
                 "digits and . _ - separated by '/', then an optional :tag "
                 "(letters, digits, _ . -; at most 128), e.g. hello:v1", ref);
        return NULL;
    }
    return lbox_strdupf("%s:%s", name, tag);
}

char *lbox_ref_qualified(const char *ref)
{
    const char *slash = strchr(ref, '/');
    if (!slash)
        return lbox_strdupf("docker.io/library/%s", ref);
    if (!is_domain(ref, (size_t)(slash - ref)))
        return lbox_strdupf("docker.io/%s", ref);
    return lbox_xstrdup(ref);
}
