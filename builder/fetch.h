/* The one downloader: libcurl into a content-addressed cache.
 *
 * Pinned fetches (a known digest) live at <cache>/blobs/<alg>/<hex>: a hit is re-verified
 * before use (a corrupt entry is deleted and fetched again), a download is written to a
 * temporary name, verified, then renamed. Unpinned fetches (index files whose digest is not
 * known in advance, e.g. a Debian Release file) live at <cache>/urls/<sha256(url)> and are
 * reused while younger than max_age. Transient errors (timeouts, 5xx, resets) are retried.
 * A progress bar is drawn on stderr when it is a terminal. */
#ifndef LBOX_FETCH_H
#define LBOX_FETCH_H

#include <stdbool.h>

#include "../common/error.h"
#include "../common/hash.h"
#include "cache_temp.h"

struct lbox_fetcher {
    char *cache_dir;  /* <cache>/ ; blobs/ and urls/ below */
    bool offline;     /* never touch the network; a cache miss is LBOX_E_OFFLINE */
    bool progress;    /* draw a progress bar (set when stderr is a tty) */
    int retries;      /* attempts after the first, for transient errors (default 3) */
    long timeout_s;   /* connect timeout in seconds (default 15) */
    /* Receives one-line notices (a corrupt cache entry refetched, a stale index reused).
     * NULL: dropped. Library code never prints; the CLI decides. */
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
};

/* Initialises with defaults: cache at lbox_cache_dir(), progress if isatty(2). */
int lbox_fetcher_init(struct lbox_fetcher *f, struct lbox_error *err);
void lbox_fetcher_free(struct lbox_fetcher *f);

/* Fetches url whose content must match `digest` (see lbox_digest_parse for forms).
 * `hint` is appended to a network error, e.g. "set --debian-mirror or LBOX_DEBIAN_MIRROR".
 * On success *path is a malloc'd path to the verified cache entry (read-only use). */
int lbox_fetch_pinned(struct lbox_fetcher *f, const char *url, const char *digest,
                      const char *hint, char **path, struct lbox_error *err);

/* Fetches an unpinned url, reusing a cached copy younger than max_age_s (offline: any age).
 * max_age_s = 0 forces a download. *path as above. */
int lbox_fetch_unpinned(struct lbox_fetcher *f, const char *url, long max_age_s,
                        const char *hint, char **path, struct lbox_error *err);

/* Cheap reachability probe (HEAD/connect with a short timeout). Returns true if the host
 * answers at all. Used to pick between alternative sources. */
bool lbox_fetch_reachable(struct lbox_fetcher *f, const char *url);

/* True (and *path set, malloc'd) when the pinned digest is already in the cache and still
 * verifies: lets callers skip working out a URL (e.g. asking npm for its registry). */
bool lbox_fetch_cached(struct lbox_fetcher *f, const char *digest, char **path);

/* Path a pinned digest would have in the cache (whether present or not). malloc'd. */
char *lbox_fetch_cache_path(struct lbox_fetcher *f, const struct lbox_digest *d);

/* Sweeps the download cache: partial downloads (blobs/<alg>/, urls/) of killed lboxes. */
size_t lbox_fetch_sweep(struct lbox_fetcher *f);

#endif
