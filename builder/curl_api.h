/* libcurl, loaded on first use.
 *
 * libcurl and the ~25 libraries it depends on (TLS, LDAP, Kerberos, SSH, ...) take several
 * milliseconds to map and relocate, and every `lbox invoke` would pay that at start although
 * only the builder downloads anything. So lbox does not link libcurl: the fetcher asks for
 * this table, which dlopen()s libcurl.so.4 once and resolves the few calls it makes. */
#ifndef LBOX_BUILDER_CURL_API_H
#define LBOX_BUILDER_CURL_API_H

#include <curl/curl.h>

#include "../common/error.h"

struct lbox_curl_api {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    /* URL parsing (a registry's or proxy's host) */
    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
    CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
    void (*url_cleanup)(CURLU *);
    void (*free)(void *);
    /* header lists (the Telemetry API's deliveries) */
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
};

/* The loaded and globally initialised libcurl; NULL with err set (LBOX_E_NET) when the
 * library cannot be loaded. Thread-safe; the library stays loaded for the process. */
const struct lbox_curl_api *lbox_curl_api(struct lbox_error *err);

#endif
