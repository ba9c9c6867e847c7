#include "curl_api.h"

#include <pthread.h>
#include <stdio.h>

#include "../common/dl.h"

#define LIBCURL_SONAME "libcurl.so.4"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct lbox_curl_api api;
static const struct lbox_curl_api *loaded;
static char failure[512];

static void load(void)
{
    CURLcode (*global_init)(long) = NULL;
    const struct lbox_dl_symbol want[] = {
        {"curl_global_init", (void **)&global_init},
        {"curl_easy_init", (void **)&api.easy_init},
        {"curl_easy_setopt", (void **)&api.easy_setopt},
        {"curl_easy_perform", (void **)&api.easy_perform},
        {"curl_easy_getinfo", (void **)&api.easy_getinfo},
        {"curl_easy_cleanup", (void **)&api.easy_cleanup},
        {"curl_easy_strerror", (void **)&api.easy_strerror},
        {"curl_url", (void **)&api.url},
        {"curl_url_set", (void **)&api.url_set},
        {"curl_url_get", (void **)&api.url_get},
        {"curl_url_cleanup", (void **)&api.url_cleanup},
        {"curl_free", (void **)&api.free},
        {"curl_slist_append", (void **)&api.slist_append},
        {"curl_slist_free_all", (void **)&api.slist_free_all},
    };
    if (lbox_dl_load(LIBCURL_SONAME, want, sizeof want / sizeof want[0], failure,
                     sizeof failure) < 0)
        return;
    CURLcode rc = global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(failure, sizeof failure, "curl_global_init failed (code %d)", (int)rc);
        return;
    }
    loaded = &api; /* the library stays loaded: its handles may outlive any caller */
}

const struct lbox_curl_api *lbox_curl_api(struct lbox_error *err)
{
    pthread_once(&once, load);
    if (!loaded)
        lbox_err(err, LBOX_E_NET,
                 "cannot load libcurl, which lbox uses for every download: %s (install the "
                 "libcurl4 package: scripts/install-deps.sh)",
                 failure);
    return loaded;
}
