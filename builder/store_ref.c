/* Image references: "name[:tag]" validated and normalised the way engines expect. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "store.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* One path component of a repository name: [a-z0-9]+ joined by one '.', one '_', "__" or
 * any number of '-' (so "a..b" and "a._b" are not names: engines refuse them). */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_lower_alnum(s[j]))
            j++;
        size_t len = j - i;
        bool dashes = strspn(s + i, "-") >= len;
        if (!(dashes || (len == 1 && (s[i] == '.' || s[i] == '_')) ||
              (len == 2 && s[i] == '_' && s[i + 1] == '_')))
            return false;
        i = j;
    }
    return true;
}

/* A registry host: contains '.' or ':' or is "localhost"; [A-Za-z0-9.-]+ with optional :port. */
static bool is_domain(const char *s, size_t n)
{
    return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !memcmp(s, "localhost", 9));
}

/* host[:port]: the host's labels of letters, digits and inner '-' joined by '.', the port
 * digits. */
static bool valid_domain(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host = colon ? (size_t)(colon - s) : n;
    if (colon) {
        size_t port = n - host - 1;
        if (port == 0 || port > 5 || strspn(colon + 1, "0123456789") < port)
            return false;
    }
    for (size_t i = 0; i < host;) {
        size_t j = i;
        while (j < host && s[j] != '.')
            j++;
        if (j == i || !isalnum((unsigned char)s[i]) || !isalnum((unsigned char)s[j - 1]))
            return false;
        for (size_t k = i; k < j; k++)
            if (!isalnum((unsigned char)s[k]) && s[k] != '-')
                return false;
        i = j + 1;
        if (j < host && i == host)
            return false; /* a trailing '.' */
    }
    return host > 0;
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
    /* A digest ("sha256:65e8...", or 64 hex digits, which Docker refuses as a name) names an
     * image by its digest everywhere else; as a tag it would hide the image it points to. */
    if (!strcmp(name, "sha256") || (strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64)) {
        lbox_err(err, LBOX_E_INVAL, "'%s' reads as an image digest, not a name: pick "
                 "another name for a tag (e.g. hello:v1)", ref);
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
