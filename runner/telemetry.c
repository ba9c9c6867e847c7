/* The Telemetry and Logs APIs' events, queues and deliveries (telemetry.h). Subscriptions
 * are checked in telemetry_subscribe.c. */
#include "telemetry_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "builder/curl_api.h"
#include "common/clock.h"
#include "common/fsutil.h"

void lbox_telemetry_time_of(const struct timespec *ts, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03uZ", day, (unsigned)(ts->tv_nsec / 1000000) % 1000u);
}

void lbox_telemetry_time(char *buf, size_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lbox_telemetry_time_of(&ts, buf, size);
}

char *telemetry_event_text(const char *type, json_t *record)
{
    char now[40];
    lbox_telemetry_time(now, sizeof now);
    json_t *e = json_pack("{s:s, s:s, s:o}", "time", now, "type", type, "record", record);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return s;
}

struct lbox_telemetry *lbox_telemetry_new(lbox_telemetry_socket_fn socket_fn, void *ctx,
                                          bool json_logs)
{
    struct lbox_telemetry *t = lbox_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &ca);
    pthread_cond_init(&t->idle, &ca);
    pthread_condattr_destroy(&ca);
    t->socket_fn = socket_fn;
    t->socket_ctx = ctx;
    t->json_logs = json_logs;
    return t;
}

static void free_events(struct event *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].json);
}

void telemetry_subscriber_free(struct subscriber *s)
{
    if (!s)
        return;
    free_events(s->q, s->n);
    free(s->q);
    free(s->url);
    free(s->host_header);
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
    free(s);
}

/* Asks a subscriber's thread to end (t->lock held): a delivery in flight ends too, an HTTP
 * one at libcurl's next progress call, a TCP send at once. */
static void ask_to_quit(struct subscriber *s)
{
    s->quit = true;
    if (s->tcp_fd >= 0)
        shutdown(s->tcp_fd, SHUT_RDWR);
}

/* Waits for the threads of subscribers taken out of t->subs, then frees them. */
static void reap(struct lbox_telemetry *t, struct subscriber **gone, size_t n)
{
    pthread_mutex_lock(&t->lock);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        if (gone[i]->started)
            pthread_join(gone[i]->thread, NULL);
        telemetry_subscriber_free(gone[i]);
    }
}

void lbox_telemetry_unsubscribe_all(struct lbox_telemetry *t)
{
    if (!t)
        return;
    struct subscriber *gone[MAX_SUBSCRIBERS];
    pthread_mutex_lock(&t->lock);
    size_t n = t->nsubs;
    for (size_t i = 0; i < n; i++) {
        gone[i] = t->subs[i];
        ask_to_quit(gone[i]);
    }
    t->nsubs = 0;
    pthread_mutex_unlock(&t->lock);
    reap(t, gone, n);
}

void lbox_telemetry_free(struct lbox_telemetry *t)
{
    if (!t)
        return;
    lbox_telemetry_unsubscribe_all(t);
    free_events(t->kept, t->nkept);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->idle);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* ---- queueing (t->lock held) ---- */

/* A subscriber whose listener cannot keep up loses events, counted for platform.logsDropped,
 * rather than the runner's memory growing: past one full batch besides the one in flight. */
static void enqueue(struct subscriber *s, const struct event *e)
{
    if (!(s->cats & e->cat))
        return;
    if (s->n >= 2 * (size_t)s->max_items || s->bytes + e->len > 2 * s->max_bytes) {
        s->dropped_records++;
        s->dropped_bytes += e->len;
        snprintf(s->drop_reason, sizeof s->drop_reason, "Some logs were dropped because the "
                 "downstream consumer is slower than the logs production rate");
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->q = lbox_xrealloc(s->q, s->cap * sizeof *s->q);
    }
    if (s->n == 0)
        s->first_ns = lbox_mono_ns();
    s->q[s->n] = *e;
    s->q[s->n].json = lbox_xstrdup(e->json);
    s->n++;
    s->bytes += e->len;
}

static bool due(const struct lbox_telemetry *t, const struct subscriber *s, int64_t now)
{
    return s->n > 0 && (t->flushing || s->n >= s->max_items || s->bytes >= s->max_bytes ||
                        now - s->first_ns >= (int64_t)s->timeout_ms * 1000000);
}

/* Takes an event to every subscriber that wants its category, and keeps it for later ones
 * while the init phase lasts. */
static void publish_event(struct lbox_telemetry *t, struct event *e)
{
    pthread_mutex_lock(&t->lock);
    bool wake = false;
    for (size_t i = 0; i < t->nsubs; i++) {
        enqueue(t->subs[i], e);
        /* Due now, or a first event whose timer the thread must arm. */
        wake |= due(t, t->subs[i], lbox_mono_ns()) || t->subs[i]->n == 1;
    }
    int api = (e->cat & CATS_OF_LOGS) ? 1 : 0;
    if (t->keeping && t->kept_count[api] < KEPT_MAX_EVENTS &&
        t->kept_bytes[api] + e->len <= KEPT_MAX_BYTES) {
        t->kept[t->nkept++] = *e;
        t->kept_count[api]++;
        t->kept_bytes[api] += e->len;
        e->json = NULL;
    }
    if (wake)
        pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    free(e->json);
}

void telemetry_publish(struct lbox_telemetry *t, char *json, unsigned cat)
{
    struct event e = {.json = json, .len = strlen(json), .cat = cat};
    publish_event(t, &e);
}

/* Whether events of any of the categories `cats` are wanted. */
static bool wanted(struct lbox_telemetry *t, unsigned cats)
{
    if (!t)
        return false;
    pthread_mutex_lock(&t->lock);
    bool w = false;
    for (int api = 0; api < 2 && t->keeping; api++)
        w |= (cats & (api ? CATS_OF_LOGS : CATS_OF_TELEMETRY)) &&
             t->kept_count[api] < KEPT_MAX_EVENTS && t->kept_bytes[api] < KEPT_MAX_BYTES;
    for (size_t i = 0; i < t->nsubs && !w; i++)
        w = t->subs[i]->cats & cats;
    pthread_mutex_unlock(&t->lock);
    return w;
}

bool lbox_telemetry_wanted(struct lbox_telemetry *t)
{
    return wanted(t, CATS_OF_TELEMETRY | CATS_OF_LOGS);
}

static void platform_event(struct lbox_telemetry *t, const char *type, json_t *record,
                           unsigned cat)
{
    if (!wanted(t, cat)) {
        json_decref(record);
        return;
    }
    char *s = record ? telemetry_event_text(type, record) : NULL;
    if (s)
        telemetry_publish(t, s, cat);
}

void lbox_telemetry_platform(struct lbox_telemetry *t, const char *type, json_t *record)
{
    platform_event(t, type, record, CAT_PLATFORM);
}

void lbox_telemetry_logs_platform(struct lbox_telemetry *t, const char *type, json_t *record)
{
    platform_event(t, type, record,
                   !strcmp(type, "platform.runtimeDone") ? CAT_LOGS_RUNTIME_DONE
                                                         : CAT_LOGS_PLATFORM);
}

/* A line as a JSON string: bytes that are not UTF-8 become U+FFFD, as Lambda's records are
 * text. */
static json_t *text_record(const char *line, size_t len)
{
    json_t *s = json_stringn(line, len);
    if (s)
        return s;
    char *fixed = lbox_xmalloc(3 * len + 1), *p = fixed;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        /* A sequence is kept when jansson takes it alone (it checks the rest: overlong
         * forms, surrogates, continuation bytes). */
        json_t *one = n && i + n <= len ? json_stringn(line + i, n) : NULL;
        if (one) {
            memcpy(p, line + i, n);
            p += n;
            i += n;
            json_decref(one);
        } else {
            memcpy(p, "\xef\xbf\xbd", 3);
            p += 3;
            i++;
        }
    }
    s = json_stringn(fixed, (size_t)(p - fixed));
    free(fixed);
    return s;
}

/* The Logs API's record of a line: its text with the newline (at its end only, for a
 * piece of a long one), as Lambda sends it. */
static json_t *logs_api_record(const char *line, size_t len, bool last)
{
    char *with_nl = lbox_xmalloc(len + 1);
    memcpy(with_nl, line, len);
    with_nl[len] = '\n';
    json_t *r = text_record(with_nl, len + last);
    free(with_nl);
    return r;
}

void lbox_telemetry_log(struct lbox_telemetry *t, enum lbox_telemetry_source src,
                        const char *line, size_t len)
{
    lbox_telemetry_log_piece(t, src, line, len, true);
}

void lbox_telemetry_log_piece(struct lbox_telemetry *t, enum lbox_telemetry_source src,
                              const char *line, size_t len, bool last)
{
    bool fn = src == LBOX_TELEMETRY_FUNCTION;
    const char *type = fn ? "function" : "extension";
    unsigned cat = fn ? CAT_FUNCTION : CAT_EXTENSION,
             logs_cat = fn ? CAT_LOGS_FUNCTION : CAT_LOGS_EXTENSION;
    if (wanted(t, cat)) {
        json_t *record = NULL;
        /* With the JSON log format the function's records are objects, and so are they
         * here. */
        if (fn && t->json_logs && len && line[0] == '{') {
            record = json_loadb(line, len, 0, NULL);
            if (record && !json_is_object(record)) {
                json_decref(record);
                record = NULL;
            }
        }
        if (!record)
            record = text_record(line, len);
        char *s = record ? telemetry_event_text(type, record) : NULL;
        if (s)
            telemetry_publish(t, s, cat);
    }
    if (wanted(t, logs_cat)) {
        json_t *record = logs_api_record(line, len, last);
        char *s = record ? telemetry_event_text(type, record) : NULL;
        if (s)
            telemetry_publish(t, s, logs_cat);
    }
}

void lbox_telemetry_init_start(struct lbox_telemetry *t, bool keep)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->keeping = keep;
    t->closed = false;
    pthread_mutex_unlock(&t->lock);
}

void lbox_telemetry_init_over(struct lbox_telemetry *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->keeping = false;
    t->closed = true;
    free_events(t->kept, t->nkept);
    t->nkept = 0;
    memset(t->kept_count, 0, sizeof t->kept_count);
    memset(t->kept_bytes, 0, sizeof t->kept_bytes);
    pthread_mutex_unlock(&t->lock);
}

bool telemetry_closed(struct lbox_telemetry *t)
{
    pthread_mutex_lock(&t->lock);
    bool closed = t->closed;
    pthread_mutex_unlock(&t->lock);
    return closed;
}

/* ---- delivery ---- */

static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct subscriber *s = ctx;
    if (purpose != CURLSOCKTYPE_IPCXN || addr->family != AF_INET)
        return CURL_SOCKET_BAD;
    int fd = s->t->socket_fn(s->t->socket_ctx);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* The listener's answer is not read: libcurl would write it to lbox's stdout, which carries
 * the function's responses. */
static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* A delivery in flight ends as soon as its subscriber does (unsubscribed, or the
 * environment ends), not when a listener that does not answer times out. */
static int stop_check(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                      curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct subscriber *s = ctx;
    pthread_mutex_lock(&s->t->lock);
    bool quit = s->quit;
    pthread_mutex_unlock(&s->t->lock);
    return quit;
}

/* One batch (a JSON array) POSTed to an HTTP listener: "" when it answered below 400, as
 * Lambda counts success, else why not. */
static void post(struct subscriber *s, const char *body, size_t len, char *why, size_t whylen)
{
    why[0] = '\0';
    struct lbox_error err = {0};
    const struct lbox_curl_api *c = lbox_curl_api(&err);
    CURL *h = c ? c->easy_init() : NULL;
    if (!h) {
        snprintf(why, whylen, "%.200s", c ? "curl_easy_init failed" : err.msg);
        return;
    }
    struct curl_slist *headers = c->slist_append(NULL, "Content-Type: application/json");
    if (headers)
        headers = c->slist_append(headers, s->host_header);
    c->easy_setopt(h, CURLOPT_URL, s->url);
    /* No proxy from the environment: the listener is inside the sandbox. */
    c->easy_setopt(h, CURLOPT_PROXY, "");
    c->easy_setopt(h, CURLOPT_NOPROXY, "*");
    c->easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    c->easy_setopt(h, CURLOPT_OPENSOCKETDATA, s);
    c->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    c->easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    c->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stop_check);
    c->easy_setopt(h, CURLOPT_XFERINFODATA, s);
    c->easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    c->easy_setopt(h, CURLOPT_POSTFIELDS, body);
    c->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    if (s->put)
        c->easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    c->easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS);
    long code = 0;
    CURLcode rc = c->easy_perform(h);
    if (rc != CURLE_OK)
        snprintf(why, whylen, "%s", c->easy_strerror(rc));
    else if (c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code >= 400)
        snprintf(why, whylen, "the listener answered HTTP %ld", code);
    c->easy_cleanup(h);
    c->slist_free_all(headers);
}

/* As Lambda, a batch the listener did not take is sent again, after 100 ms and then 200 ms
 * (a listener that is still starting, or busy), before it is given up; the subscriber's
 * end cuts the waits short. */
#define POST_ATTEMPTS 3

static void post_with_retries(struct subscriber *s, const char *body, size_t len, char *why,
                              size_t whylen)
{
    struct lbox_telemetry *t = s->t;
    for (int attempt = 1;; attempt++) {
        post(s, body, len, why, whylen);
        if (!why[0] || attempt == POST_ATTEMPTS)
            return;
        int64_t at = lbox_mono_ns() + (int64_t)(100 << (attempt - 1)) * 1000000;
        struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
        pthread_mutex_lock(&t->lock);
        while (!s->quit && lbox_mono_ns() < at)
            pthread_cond_timedwait(&t->wake, &t->lock, &ts);
        bool quit = s->quit;
        pthread_mutex_unlock(&t->lock);
        if (quit)
            return;
    }
}

/* One batch (newline-delimited JSON) written to a TCP subscriber's connection. */
static void send_tcp(int fd, const char *body, size_t len, char *why, size_t whylen)
{
    why[0] = '\0';
    while (len) {
        ssize_t n = send(fd, body, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "%s", n < 0 ? strerror(errno) : "connection closed");
            return;
        }
        body += n;
        len -= (size_t)n;
    }
}

/* Lambda's platform.logsDropped event. */
static char *dropped_text(const char *reason, size_t records, size_t bytes)
{
    json_t *r = json_pack("{s:s, s:I, s:I}", "reason", reason, "droppedRecords",
                          (json_int_t)records, "droppedBytes", (json_int_t)bytes);
    return r ? telemetry_event_text("platform.logsDropped", r) : NULL;
}

/* What a batch holds: its events, and the losses its platform.logsDropped tells. */
struct batch_size {
    size_t records, bytes;
    size_t noted_records, noted_bytes;
};

/* Takes the subscriber's next batch (t->lock held): at most its maxItems events and about
 * maxBytes (the event that crosses the bound goes too, as on Lambda; at least one event),
 * after a platform.logsDropped for what it lost since its last batch. HTTP: one JSON array;
 * TCP: one event per line. */
static char *take_batch(struct subscriber *s, size_t *len, struct batch_size *size)
{
    size_t n = 0, b = 0;
    while (n < s->n && n < s->max_items && b < s->max_bytes)
        b += s->q[n++].len;
    char *dropped = NULL;
    if (s->dropped_records && (s->cats & (CAT_PLATFORM | CAT_LOGS_PLATFORM)))
        dropped = dropped_text(s->drop_reason, s->dropped_records, s->dropped_bytes);
    size->noted_records = dropped ? s->dropped_records : 0;
    size->noted_bytes = dropped ? s->dropped_bytes : 0;
    s->dropped_records = s->dropped_bytes = 0;
    size_t dlen = dropped ? strlen(dropped) : 0;
    char *out = lbox_xmalloc(b + n + dlen + 4), *p = out;
    if (!s->tcp)
        *p++ = '[';
    if (dropped) {
        memcpy(p, dropped, dlen);
        p += dlen;
        if (n || s->tcp)
            *p++ = s->tcp ? '\n' : ',';
        free(dropped);
    }
    for (size_t i = 0; i < n; i++) {
        if (i && !s->tcp)
            *p++ = ',';
        memcpy(p, s->q[i].json, s->q[i].len);
        p += s->q[i].len;
        if (s->tcp)
            *p++ = '\n';
        free(s->q[i].json);
    }
    if (!s->tcp)
        *p++ = ']';
    *p = '\0';
    *len = (size_t)(p - out);
    size->records = n;
    size->bytes = b;
    memmove(s->q, s->q + n, (s->n - n) * sizeof *s->q);
    s->n -= n;
    s->bytes -= b;
    s->first_ns = lbox_mono_ns(); /* what is left waits a whole timeout again */
    return out;
}

/* A batch the subscriber could not take is gone, as on Lambda, and said in a
 * platform.logsDropped ahead of its next batch (t->lock held), with what that batch's own
 * note told if it had one: a subscriber hears of its own losses only, as each has its own
 * buffer. */
static void logs_dropped(struct subscriber *s, const char *reason, const struct batch_size *lost)
{
    s->dropped_records += lost->records + lost->noted_records;
    s->dropped_bytes += lost->bytes + lost->noted_bytes;
    snprintf(s->drop_reason, sizeof s->drop_reason, "%s", reason);
}

static void *deliver(void *arg)
{
    struct subscriber *s = arg;
    struct lbox_telemetry *t = s->t;
    pthread_mutex_lock(&t->lock);
    while (!s->quit) {
        if (!due(t, s, lbox_mono_ns())) {
            if (!s->n) {
                pthread_cond_wait(&t->wake, &t->lock);
            } else {
                int64_t at = s->first_ns + (int64_t)s->timeout_ms * 1000000;
                struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
                pthread_cond_timedwait(&t->wake, &t->lock, &ts);
            }
            continue;
        }
        size_t len;
        struct batch_size size;
        char *body = take_batch(s, &len, &size);
        s->busy = true;
        int fd = s->tcp_fd; /* the subscriber's own: closed only after this thread ends */
        pthread_mutex_unlock(&t->lock);
        char why[256];
        if (!s->tcp)
            post_with_retries(s, body, len, why, sizeof why);
        else if (fd >= 0)
            send_tcp(fd, body, len, why, sizeof why);
        else
            snprintf(why, sizeof why, "the TCP connection to the listener was lost");
        free(body);
        pthread_mutex_lock(&t->lock);
        s->busy = false;
        if (why[0] && !s->quit) {
            if (s->tcp && s->tcp_fd >= 0) {
                close(s->tcp_fd);
                s->tcp_fd = -1;
            }
            char reason[300];
            snprintf(reason, sizeof reason, "could not send events: %s", why);
            logs_dropped(s, reason, &size);
        }
        pthread_cond_broadcast(&t->idle);
    }
    pthread_cond_broadcast(&t->idle);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int telemetry_add(struct lbox_telemetry *t, struct subscriber *s, bool *again)
{
    s->t = t;
    struct subscriber *old = NULL;
    pthread_mutex_lock(&t->lock);
    size_t slot = t->nsubs;
    for (size_t i = 0; i < t->nsubs; i++)
        if (!strcmp(t->subs[i]->name, s->name))
            slot = i;
    *again = slot < t->nsubs;
    /* Lambda: an extension subscribes with one API or the other, not both. */
    if (*again && t->subs[slot]->api != s->api) {
        pthread_mutex_unlock(&t->lock);
        return -2;
    }
    if (!*again && t->nsubs == MAX_SUBSCRIBERS) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    if (*again) {
        /* Subscribing again: the new settings, and what was queued for the old ones. */
        old = t->subs[slot];
        ask_to_quit(old);
        s->q = old->q;
        s->n = old->n;
        s->cap = old->cap;
        s->bytes = old->bytes;
        s->first_ns = old->first_ns;
        old->q = NULL;
        old->n = old->cap = 0;
    } else {
        t->nsubs++;
        for (size_t i = 0; i < t->nkept; i++)
            enqueue(s, &t->kept[i]);
    }
    t->subs[slot] = s;
    s->started = pthread_create(&s->thread, NULL, deliver, s) == 0;
    pthread_mutex_unlock(&t->lock);
    if (old)
        reap(t, &old, 1);
    return 0;
}

void lbox_telemetry_flush(struct lbox_telemetry *t, int timeout_ms)
{
    if (!t)
        return;
    int64_t end = lbox_mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&t->lock);
    t->flushing = true;
    pthread_cond_broadcast(&t->wake);
    for (;;) {
        bool queued = false;
        for (size_t i = 0; i < t->nsubs; i++)
            queued |= t->subs[i]->started && (t->subs[i]->n > 0 || t->subs[i]->busy);
        if (!queued || lbox_mono_ns() >= end)
            break;
        struct timespec ts = {.tv_sec = end / 1000000000, .tv_nsec = end % 1000000000};
        pthread_cond_timedwait(&t->idle, &t->lock, &ts);
    }
    t->flushing = false;
    pthread_mutex_unlock(&t->lock);
}
