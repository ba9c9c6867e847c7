#include "sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fsutil.h"

static char *strip_slash(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '/' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    return s;
}

static const char *first_env(const char *const *names)
{
    for (; *names; names++) {
        const char *v = getenv(*names);
        if (v && *v)
            return v;
    }
    return NULL;
}

int lbox_npm_registry(const char *flag, char **url, struct lbox_error *err)
{
    static const char *const envs[] = {"LBOX_NPM_REGISTRY", "NPM_CONFIG_REGISTRY",
                                       "npm_config_registry", NULL};
    const char *v = flag && *flag ? flag : first_env(envs);
    if (v) {
        *url = strip_slash(lbox_xstrdup(v));
        return 0;
    }
    /* npm's own resolution (user and global npmrc, then its built-in default) is the source
     * of truth; asking it avoids re-implementing npmrc precedence. It is asked from /, so a
     * function's own .npmrc (the current folder is often the function's) cannot pick where
     * lbox downloads from, nor send --npm-install's npm to a registry on this host's
     * loopback, which would give its install scripts the host's network. Asked once per
     * process: it costs a node start. */
    static char *asked;
    if (asked) {
        *url = lbox_xstrdup(asked);
        return 0;
    }
    FILE *p = popen("cd / && npm config get registry 2>/dev/null", "r");
    char line[1024] = "";
    if (p) {
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        pclose(p);
    }
    strip_slash(line);
    if (strncmp(line, "http://", 7) != 0 && strncmp(line, "https://", 8) != 0 &&
        strncmp(line, "file://", 7) != 0)
        return lbox_err(err, LBOX_E_INVAL,
                        "no npm registry configured: pass --npm-registry URL, set LBOX_NPM_REGISTRY, "
                        "or install npm and configure its registry");
    asked = lbox_xstrdup(line);
    *url = lbox_xstrdup(line);
    return 0;
}

char *lbox_node_mirror(const char *flag, const char *recipe_default)
{
    const char *v = flag && *flag ? flag : getenv("LBOX_NODE_MIRROR");
    if (!v || !*v)
        v = recipe_default ? recipe_default : "";
    return strip_slash(lbox_xstrdup(v));
}
