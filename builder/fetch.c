#include "fetch.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "curl_api.h"

int lbox_fetcher_init(struct lbox_fetcher *f, struct lbox_error *err)
{
    memset(f, 0, sizeof *f);
    if (!lbox_curl_api(err))
        return -1;
    f->cache_dir = lbox_cache_dir();
    f->progress = isatty(STDERR_FILENO);
    f->retries = 3;
    f->timeout_s = 15;
    return lbox_mkdir_p(f->cache_dir, 0755, err);
}

void lbox_fetcher_free(struct lbox_fetcher *f)
{
    free(f->cache_dir);
    f->cache_dir = NULL;
}

static void notice(struct lbox_fetcher *f, const char *fmt, ...)
{
    if (!f->notice)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f->notice(f->notice_ctx, msg);
}

/* ---- progress bar (stderr, terminals only) ---- */

struct transfer {
    FILE *out;
    const char *label;
    bool progress;
    bool drew;
    double last_draw;
    int write_errno; /* why the cache file could not take the data (ENOSPC, EIO, ...) */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut, curl_off_t un)
{
    (void)ut;
    (void)un;
    struct transfer *t = p;
    double now = now_s();
    if (!t->progress || dlnow == 0 || (now - t->last_draw < 0.1 && dlnow != dltotal))
        return 0;
    t->last_draw = now;
    t->drew = true;
    if (dltotal > 0) {
        int width = 30, fill = (int)((double)dlnow * width / (double)dltotal);
        char bar[31];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(width - fill));
        bar[width] = '\0';
        fprintf(stderr, "\r  %-40.40s [%s] %3d%% %7.1f/%.1f MB", t->label, bar,
                (int)(dlnow * 100 / dltotal), (double)dlnow / 1e6, (double)dltotal / 1e6);
    } else {
        fprintf(stderr, "\r  %-40.40s %7.1f MB", t->label, (double)dlnow / 1e6);
    }
    return 0;
}

static size_t on_data(char *buf, size_t size, size_t n, void *p)
{
    struct transfer *t = p;
    size_t w = fwrite(buf, size, n, t->out);
    if (w < n && !t->write_errno)
        t->write_errno = errno ? errno : EIO;
    return w;
}

static bool transient(CURLcode rc, long http)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    case CURLE_HTTP_RETURNED_ERROR:
        return http >= 500 || http == 429;
    default:
        return false; /* name resolution, refused, 404: retrying will not help */
    }
}

/* A full disk or an unwritable cache: the message names the cache, not the temporary file. */
static int cache_write_error(struct lbox_fetcher *f, const char *url, int e, struct lbox_error *err)
{
    return lbox_err_errno(err, e, "cannot save %s in the download cache %s (set XDG_CACHE_HOME "
                          "to move the cache)", url, f->cache_dir);
}

/* Downloads url into dest (an existing file, truncated), retrying transient failures. On
 * failure the caller deletes dest. */
static int download(struct lbox_fetcher *f, const char *url, const char *dest, const char *hint,
                    struct lbox_error *err)
{
    const char *base = strrchr(url, '/');
    struct transfer t = {.label = base && base[1] ? base + 1 : url, .progress = f->progress};
    CURLcode rc = CURLE_OK;
    long http = 0;
    char curl_msg[CURL_ERROR_SIZE] = "";
    const struct lbox_curl_api *curl = lbox_curl_api(err);
    if (!curl)
        return -1;

    for (int attempt = 0; attempt <= f->retries; attempt++) {
        if (attempt > 0)
            usleep((useconds_t)(250000u << attempt));
        t.out = fopen(dest, "wb");
        if (!t.out)
            return cache_write_error(f, url, errno, err);
        t.write_errno = 0;
        CURL *c = curl->easy_init();
        if (!c) {
            fclose(t.out);
            return lbox_err(err, LBOX_E_NET, "cannot initialise libcurl");
        }
        curl_msg[0] = '\0';
        curl->easy_setopt(c, CURLOPT_URL, url);
        curl->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        curl->easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        curl->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, f->timeout_s);
        /* Abort a stalled transfer: under 1 KB/s for 60 s. */
        curl->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl->easy_setopt(c, CURLOPT_WRITEDATA, &t);
        curl->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl->easy_setopt(c, CURLOPT_XFERINFODATA, &t);
        curl->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl->easy_setopt(c, CURLOPT_ERRORBUFFER, curl_msg);
        curl->easy_setopt(c, CURLOPT_USERAGENT, "lbox/0.1");
        rc = curl->easy_perform(c);
        curl->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        curl->easy_cleanup(c);
        int close_rc = fclose(t.out), close_errno = errno;
        if (t.drew)
            fprintf(stderr, "\n");
        t.drew = false;
        if (rc == CURLE_OK && close_rc != 0)
            return cache_write_error(f, url, close_errno, err);
        if (rc == CURLE_WRITE_ERROR)
            return cache_write_error(f, url, t.write_errno ? t.write_errno : EIO, err);
        if (rc == CURLE_OK || !transient(rc, http))
            break;
    }
    if (rc == CURLE_OK)
        return 0;
    return lbox_err(err, LBOX_E_NET, "cannot download %s: %s%s%s%s", url,
                    curl_msg[0] ? curl_msg : curl->easy_strerror(rc), hint ? " (" : "",
                    hint ? hint : "", hint ? ")" : "");
}

char *lbox_fetch_cache_path(struct lbox_fetcher *f, const struct lbox_digest *d)
{
    return lbox_strdupf("%s/blobs/%s/%s", f->cache_dir, d->alg, d->hex);
}

/* The last step of every download: the verified temporary file takes its cache name. */
static int commit_download(const char *tmp, char *dest, const char *url, char **path,
                           struct lbox_error *err)
{
    if (rename(tmp, dest) < 0) {
        int e = errno;
        unlink(tmp);
        free(dest);
        return lbox_err_errno(err, e, "cannot store %s in the cache", url);
    }
    *path = dest;
    return 0;
}

/* <digest>.tmp-XXXXXX, and the <digest>.tmp.<pid>.<ns> of lbox before locks */
static bool is_download_temp(const char *name) { return strstr(name, ".tmp") != NULL; }

size_t lbox_fetch_sweep(struct lbox_fetcher *f)
{
    _cleanup_free_ char *blobs = lbox_path_join(f->cache_dir, "blobs");
    _cleanup_free_ char *urls = lbox_path_join(f->cache_dir, "urls");
    size_t n = lbox_cache_sweep(urls, is_download_temp);
    DIR *d = opendir(blobs);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *alg = lbox_path_join(blobs, de->d_name);
        n += lbox_cache_sweep(alg, is_download_temp);
    }
    if (d)
        closedir(d);
    return n;
}

/* A locked temporary file next to dest for a download: a killed lbox's half-written file
 * is then known for what it is (lbox_fetch_sweep), and never taken for a whole one. */
static char *download_temp(struct lbox_fetcher *f, const char *dest, const char *url, int *lock,
                           struct lbox_error *err)
{
    char *tmp = lbox_strdupf("%s.tmp-XXXXXX", dest);
    if (lbox_cache_temp(tmp, false, lock, err) < 0) {
        free(tmp);
        lbox_err_prefix(err, "cannot download %s into the cache %s (set XDG_CACHE_HOME to "
                        "move it)", url, f->cache_dir);
        return NULL;
    }
    fchmod(*lock, 0644);
    return tmp;
}

int lbox_fetch_pinned(struct lbox_fetcher *f, const char *url, const char *digest,
                      const char *hint, char **path, struct lbox_error *err)
{
    struct lbox_digest d;
    if (lbox_digest_parse(digest, &d, err) < 0)
        return lbox_err_prefix(err, "pinned digest of %s", url);
    _cleanup_free_ char *dir = lbox_strdupf("%s/blobs/%s", f->cache_dir, d.alg);
    if (lbox_mkdir_p(dir, 0755, err) < 0)
        return -1;
    char *dest = lbox_fetch_cache_path(f, &d);

    /* A hit is verified again: a cache entry can rot (disk errors, a killed writer on a
     * file system without atomic rename, a user editing it). */
    if (access(dest, F_OK) == 0) {
        struct lbox_error verr;
        if (lbox_digest_verify_file(dest, &d, dest, &verr) == 0) {
            *path = dest;
            return 0;
        }
        notice(f, "cache entry for %s is corrupt; fetching it again", url);
        unlink(dest);
    }
    if (f->offline) {
        free(dest);
        return lbox_err(err, LBOX_E_OFFLINE,
                        "%s is not in the cache and --offline was given (run once without --offline)",
                        url);
    }
    _cleanup_close_ int lock = -1;
    _cleanup_free_ char *tmp = download_temp(f, dest, url, &lock, err);
    if (!tmp || download(f, url, tmp, hint, err) < 0 ||
        lbox_digest_verify_file(tmp, &d, url, err) < 0) {
        if (tmp)
            unlink(tmp);
        free(dest);
        return -1;
    }
    return commit_download(tmp, dest, url, path, err);
}

bool lbox_fetch_cached(struct lbox_fetcher *f, const char *digest, char **path)
{
    struct lbox_digest d;
    if (lbox_digest_parse(digest, &d, NULL) < 0)
        return false;
    char *p = lbox_fetch_cache_path(f, &d);
    if (access(p, F_OK) == 0 && lbox_digest_verify_file(p, &d, p, NULL) == 0) {
        *path = p;
        return true;
    }
    free(p);
    return false;
}

int lbox_fetch_unpinned(struct lbox_fetcher *f, const char *url, long max_age_s,
                        const char *hint, char **path, struct lbox_error *err)
{
    _cleanup_free_ char *dir = lbox_path_join(f->cache_dir, "urls");
    if (lbox_mkdir_p(dir, 0755, err) < 0)
        return -1;
    char key[65];
    lbox_sha256_hex(url, strlen(url), key);
    char *dest = lbox_path_join(dir, key);

    struct stat st;
    bool have = stat(dest, &st) == 0;
    if (have && (f->offline || (max_age_s > 0 && time(NULL) - st.st_mtime < max_age_s))) {
        *path = dest;
        return 0;
    }
    if (f->offline) {
        free(dest);
        return lbox_err(err, LBOX_E_OFFLINE,
                        "%s is not in the cache and --offline was given (run once without --offline)",
                        url);
    }
    _cleanup_close_ int lock = -1;
    struct lbox_error derr;
    _cleanup_free_ char *tmp = download_temp(f, dest, url, &lock, &derr);
    if (!tmp || download(f, url, tmp, hint, &derr) < 0) {
        if (tmp)
            unlink(tmp);
        if (have) {
            notice(f, "%s; using the copy cached %ld minutes ago", derr.msg,
                   (long)(time(NULL) - st.st_mtime) / 60);
            *path = dest;
            return 0;
        }
        free(dest);
        if (err)
            *err = derr;
        return -1;
    }
    return commit_download(tmp, dest, url, path, err);
}

bool lbox_fetch_reachable(struct lbox_fetcher *f, const char *url)
{
    struct lbox_error ignored = {0};
    const struct lbox_curl_api *curl = lbox_curl_api(&ignored);
    if (f->offline || !curl)
        return false;
    CURL *c = curl->easy_init();
    if (!c)
        return false;
    curl->easy_setopt(c, CURLOPT_URL, url);
    curl->easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl->easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl->easy_perform(c);
    curl->easy_cleanup(c);
    /* Any answer, even an HTTP error, means the host is there. */
    return rc == CURLE_OK || rc == CURLE_HTTP_RETURNED_ERROR;
}
