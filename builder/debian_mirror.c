/* Which Debian mirror to read: --debian-mirror, else LBOX_DEBIAN_MIRROR, else the mirror
 * the host's apt already uses (so a machine that can install packages can build images,
 * with no mirror host written anywhere in lbox). */
#include "debian_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define SOURCES_LIMIT (1u << 20)

/* http(s) and file URIs only: apt's other transports (cdrom:, mirror+, tor+) are not
 * something libcurl can fetch. apt's "file:/srv/x" becomes "file:///srv/x" for libcurl.
 * Returns a malloc'd URI without trailing slashes, or NULL when unusable. */
static char *usable_uri(const char *uri, size_t len)
{
    char *u;
    if ((len > 7 && strncmp(uri, "http://", 7) == 0) || (len > 8 && strncmp(uri, "https://", 8) == 0) ||
        (len > 7 && strncmp(uri, "file://", 7) == 0))
        u = lbox_strdupf("%.*s", (int)len, uri);
    else if (len > 6 && strncmp(uri, "file:/", 6) == 0)
        u = lbox_strdupf("file://%.*s", (int)(len - 5), uri + 5);
    else
        return NULL;
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    return u;
}

/* Is `word` one of the blank-separated words of [s, s+len)? */
static bool has_word(const char *s, size_t len, const char *word)
{
    size_t wl = strlen(word);
    const char *end = s + len;
    while (s < end) {
        while (s < end && strchr(" \t\n", *s))
            s++;
        const char *w = s;
        while (s < end && !strchr(" \t\n", *s))
            s++;
        if ((size_t)(s - w) == wl && strncmp(w, word, wl) == 0)
            return true;
    }
    return false;
}

/* One-line form: "deb [ options ] uri suite component...". */
static char *from_one_line(const char *text, const char *suite)
{
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        _cleanup_free_ char *line = lbox_strdupf("%.*s", (int)n, p);
        p += n + (eol ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *tok = strtok_r(line, " \t\r", &save);
        if (!tok || strcmp(tok, "deb") != 0)
            continue;
        char *rest = save ? save : (char *)"";
        while (*rest == ' ' || *rest == '\t')
            rest++;
        if (*rest == '[') {
            char *close = strchr(rest, ']');
            if (!close)
                continue;
            rest = close + 1;
        }
        char *uri = strtok_r(rest, " \t\r", &save);
        char *s = uri ? strtok_r(NULL, " \t\r", &save) : NULL;
        if (!s || strcmp(s, suite) != 0)
            continue;
        bool main_ok = false;
        for (char *c; (c = strtok_r(NULL, " \t\r", &save));)
            if (strcmp(c, "main") == 0)
                main_ok = true;
        if (!main_ok)
            continue;
        char *u = usable_uri(uri, strlen(uri));
        if (u)
            return u;
    }
    return NULL;
}

/* deb822 form (.sources): Types, URIs, Suites, Components, Enabled. */
static char *from_sources(const char *text, size_t len, const char *suite, const char *path)
{
    struct lbox_deb822 r;
    lbox_deb822_init(&r, text, len);
    while (lbox_deb822_next_stanza(&r)) {
        struct lbox_deb822_field f;
        const struct lbox_deb822_field *types = NULL, *uris = NULL, *suites = NULL, *comps = NULL;
        struct lbox_deb822_field ft, fu, fs, fc;
        bool enabled = true;
        int rc;
        while ((rc = lbox_deb822_next_field(&r, &f, path, NULL)) == 1) {
            if (lbox_deb822_is(&f, "Types"))
                ft = f, types = &ft;
            else if (lbox_deb822_is(&f, "URIs"))
                fu = f, uris = &fu;
            else if (lbox_deb822_is(&f, "Suites"))
                fs = f, suites = &fs;
            else if (lbox_deb822_is(&f, "Components"))
                fc = f, comps = &fc;
            else if (lbox_deb822_is(&f, "Enabled"))
                enabled = !(f.value_len == 2 && strncasecmp(f.value, "no", 2) == 0);
        }
        if (rc < 0)
            return NULL; /* a file apt itself would reject: not ours to fix, skip it */
        if (!enabled || !types || !uris || !suites || !comps)
            continue;
        if (!has_word(types->value, types->value_len, "deb") ||
            !has_word(suites->value, suites->value_len, suite) ||
            !has_word(comps->value, comps->value_len, "main"))
            continue;
        const char *s = uris->value, *end = uris->value + uris->value_len;
        while (s < end) {
            while (s < end && strchr(" \t\n", *s))
                s++;
            const char *w = s;
            while (s < end && !strchr(" \t\n", *s))
                s++;
            if (s > w) {
                char *u = usable_uri(w, (size_t)(s - w));
                if (u)
                    return u;
            }
        }
    }
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Reads one file; a missing file is simply no entry. */
static int scan_file(const char *path, bool deb822, const char *suite, char **mirror,
                     struct lbox_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 1;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (lbox_read_file(path, SOURCES_LIMIT, &text, &len, err) < 0)
        return -1;
    *mirror = deb822 ? from_sources(text, len, suite, path) : from_one_line(text, suite);
    return *mirror ? 0 : 1;
}

static int only_apt_names(const struct dirent *d)
{
    return ends_with(d->d_name, ".list") || ends_with(d->d_name, ".sources");
}

int lbox_debian_mirror_from_apt(const char *apt_dir, const char *suite, char **mirror,
                                struct lbox_error *err)
{
    _cleanup_free_ char *main_list = lbox_path_join(apt_dir, "sources.list");
    int rc = scan_file(main_list, false, suite, mirror, err);
    if (rc <= 0)
        return rc;
    _cleanup_free_ char *dir = lbox_path_join(apt_dir, "sources.list.d");
    struct dirent **names = NULL;
    int n = scandir(dir, &names, only_apt_names, alphasort);
    if (n < 0)
        return 1;
    rc = 1;
    for (int i = 0; i < n; i++) {
        if (rc == 1) {
            _cleanup_free_ char *path = lbox_path_join(dir, names[i]->d_name);
            rc = scan_file(path, ends_with(names[i]->d_name, ".sources"), suite, mirror, err);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int lbox_debian_pick_mirror(const char *flag, const char *suite, char **mirror,
                            struct lbox_error *err)
{
    const char *given = flag && *flag ? flag : getenv("LBOX_DEBIAN_MIRROR");
    if (given && *given) {
        size_t n = strlen(given);
        while (n > 1 && given[n - 1] == '/')
            n--;
        if (!strstr(given, "://"))
            return lbox_err(err, LBOX_E_INVAL,
                            "Debian mirror \"%s\" is not a URL (from %s); give e.g. "
                            "https://<host>/debian or file:///srv/mirror",
                            given, flag && *flag ? "--debian-mirror" : "LBOX_DEBIAN_MIRROR");
        *mirror = lbox_strdupf("%.*s", (int)n, given);
        return 0;
    }
    int rc = lbox_debian_mirror_from_apt("/etc/apt", suite, mirror, err);
    if (rc < 0)
        return lbox_err_prefix(err, "looking for a Debian mirror in apt's sources");
    if (rc == 1)
        return lbox_err(err, LBOX_E_NOTFOUND,
                        "no Debian mirror for suite \"%s\": the host's apt sources "
                        "(/etc/apt/sources.list, /etc/apt/sources.list.d/) have no \"deb\" entry "
                        "for \"%s\" with component main; set --debian-mirror or LBOX_DEBIAN_MIRROR",
                        suite, suite);
    return 0;
}
