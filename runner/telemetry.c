/* The Telemetry API's subscriptions, buffers and deliveries (telemetry.h). */
#include "telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "builder/curl_api.h"
#include "common/fsutil.h"

/* The event categories a subscription names in "types". */
enum { CAT_PLATFORM = 1, CAT_FUNCTION = 2, CAT_EXTENSION = 4 };

/* Lambda's bounds and defaults for "buffering" (the Telemetry API reference). */
#define MIN_ITEMS 1000
#define MAX_ITEMS 10000
#define DEFAULT_ITEMS 10000
#define MIN_BYTES 262144
#define MAX_BYTES 1048576
#define DEFAULT_BYTES 262144
#define MIN_TIMEOUT_MS 25
#define MAX_TIMEOUT_MS 30000
#define DEFAULT_TIMEOUT_MS 1000

/* Events kept for subscribers to come, during the init phase. */
#define KEPT_MAX_EVENTS 1000
#define KEPT_MAX_BYTES (1u << 20)
/* Extensions are at most ten; an eleventh subscriber has no extension to be. */
#define MAX_SUBSCRIBERS 16
/* A listener that does not answer within this is given up for the batch. */
#define POST_TIMEOUT_MS 5000

struct event {
    char *json; /* {"time":...,"type":...,"record":...} */
    size_t len;
    unsigned cat;
};

struct subscriber {
    char name[64];
    unsigned cats;
    unsigned max_items;
    size_t max_bytes;
    int timeout_ms;
    /* HTTP: the listener's URL, its host made 127.0.0.1, and the Host header naming it as
     * the extension did. TCP: a connection made at the subscription (as Lambda makes it),
     * -1 once it failed: Lambda does not connect again. */
    char *url;
    char *host_header;
    bool tcp;
    int tcp_fd;
    struct event *q;     /* queued, oldest first */
    size_t n, cap, bytes;
    int64_t first_ns;    /* when the oldest queued event came */
    /* Lost since its last batch (told in a platform.logsDropped ahead of the next). */
    size_t dropped_records, dropped_bytes;
    char drop_reason[300];
};

struct lbox_telemetry {
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* the delivery thread: something to do */
    pthread_cond_t idle;   /* flushers: a delivery ended */
    lbox_telemetry_socket_fn socket_fn;
    void *socket_ctx;
    struct subscriber subs[MAX_SUBSCRIBERS];
    size_t nsubs;
    struct event kept[KEPT_MAX_EVENTS];
    size_t nkept, kept_bytes;
    bool keeping;          /* the init phase is not over: events are kept */
    bool closed;           /* ... it is: no more subscriptions */
    pthread_t thread;
    bool thread_started, stop, flushing;
    unsigned in_flight;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void lbox_telemetry_time(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03ldZ", day, ts.tv_nsec / 1000000);
}

struct lbox_telemetry *lbox_telemetry_new(lbox_telemetry_socket_fn socket_fn, void *ctx)
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
    t->keeping = true;
    return t;
}

static void subscriber_free(struct subscriber *s);

static void free_events(struct event *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].json);
}

void lbox_telemetry_free(struct lbox_telemetry *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_broadcast(&t->wake);
    /* A TCP listener that stopped reading: its connection's send returns now. */
    for (size_t i = 0; i < t->nsubs; i++)
        if (t->subs[i].tcp_fd >= 0)
            shutdown(t->subs[i].tcp_fd, SHUT_RDWR);
    pthread_mutex_unlock(&t->lock);
    if (t->thread_started)
        pthread_join(t->thread, NULL);
    for (size_t i = 0; i < t->nsubs; i++) {
        struct subscriber *s = &t->subs[i];
        free_events(s->q, s->n);
        free(s->q);
        subscriber_free(s);
    }
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
        s->first_ns = mono_ns();
    s->q[s->n].json = lbox_xstrdup(e->json);
    s->q[s->n].len = e->len;
    s->q[s->n].cat = e->cat;
    s->n++;
    s->bytes += e->len;
}

static bool due(const struct lbox_telemetry *t, const struct subscriber *s, int64_t now)
{
    return s->n > 0 && (t->flushing || s->n >= s->max_items || s->bytes >= s->max_bytes ||
                        now - s->first_ns >= (int64_t)s->timeout_ms * 1000000);
}

/* Takes an event ({"time","type","record"} as text) to every subscriber that wants its
 * category, and keeps it for later ones while the init phase lasts. */
static void publish(struct lbox_telemetry *t, char *json, unsigned cat)
{
    struct event e = {.json = json, .len = strlen(json), .cat = cat};
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nsubs; i++)
        enqueue(&t->subs[i], &e);
    if (t->keeping && t->nkept < KEPT_MAX_EVENTS && t->kept_bytes + e.len <= KEPT_MAX_BYTES) {
        t->kept[t->nkept++] = e;
        t->kept_bytes += e.len;
        e.json = NULL;
    }
    for (size_t i = 0; i < t->nsubs; i++)
        if (due(t, &t->subs[i], mono_ns()) || t->subs[i].n == 1) {
            pthread_cond_signal(&t->wake); /* due now, or a new timer to arm */
            break;
        }
    pthread_mutex_unlock(&t->lock);
    free(e.json);
}

static char *event_text(const char *type, json_t *record)
{
    char now[40];
    lbox_telemetry_time(now, sizeof now);
    json_t *e = json_pack("{s:s, s:s, s:o}", "time", now, "type", type, "record", record);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return s;
}

bool lbox_telemetry_wanted(struct lbox_telemetry *t)
{
    if (!t)
        return false;
    pthread_mutex_lock(&t->lock);
    bool w = t->nsubs > 0 || t->keeping;
    pthread_mutex_unlock(&t->lock);
    return w;
}

void lbox_telemetry_platform(struct lbox_telemetry *t, const char *type, json_t *record)
{
    if (!lbox_telemetry_wanted(t)) {
        json_decref(record);
        return;
    }
    char *s = event_text(type, record);
    if (s)
        publish(t, s, CAT_PLATFORM);
}

void lbox_telemetry_log(struct lbox_telemetry *t, enum lbox_telemetry_source src,
                        const char *line, size_t len)
{
    if (!lbox_telemetry_wanted(t))
        return;
    json_t *record = NULL;
    if (src == LBOX_TELEMETRY_FUNCTION && len && line[0] == '{') {
        record = json_loadb(line, len, 0, NULL);
        if (record && !json_is_object(record)) {
            json_decref(record);
            record = NULL;
        }
    }
    if (!record)
        record = json_stringn(line, len);
    if (!record) /* not UTF-8, which a JSON string cannot hold: not delivered */
        return;
    const char *type = src == LBOX_TELEMETRY_FUNCTION ? "function" : "extension";
    char *s = event_text(type, record);
    if (s)
        publish(t, s, src == LBOX_TELEMETRY_FUNCTION ? CAT_FUNCTION : CAT_EXTENSION);
}

void lbox_telemetry_init_start(struct lbox_telemetry *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->keeping = true;
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
    t->nkept = t->kept_bytes = 0;
    pthread_mutex_unlock(&t->lock);
}

/* ---- delivery ---- */

static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct lbox_telemetry *t = ctx;
    if (purpose != CURLSOCKTYPE_IPCXN || addr->family != AF_INET)
        return CURL_SOCKET_BAD;
    int fd = t->socket_fn(t->socket_ctx);
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

/* A delivery in flight ends as soon as the environment does (lbox_telemetry_free), not
 * when a listener that does not answer times out. */
static int stop_check(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                      curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct lbox_telemetry *t = ctx;
    pthread_mutex_lock(&t->lock);
    bool stop = t->stop;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

/* One batch (a JSON array) POSTed to an HTTP listener: "" when it answered below 400, as
 * Lambda counts success, else why not. */
static void post(struct lbox_telemetry *t, const char *url, const char *host_header,
                 const char *body, size_t len, char *why, size_t whylen)
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
        headers = c->slist_append(headers, host_header);
    c->easy_setopt(h, CURLOPT_URL, url);
    /* No proxy from the environment: the listener is inside the sandbox. */
    c->easy_setopt(h, CURLOPT_PROXY, "");
    c->easy_setopt(h, CURLOPT_NOPROXY, "*");
    c->easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    c->easy_setopt(h, CURLOPT_OPENSOCKETDATA, t);
    c->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    c->easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    c->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stop_check);
    c->easy_setopt(h, CURLOPT_XFERINFODATA, t);
    c->easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    c->easy_setopt(h, CURLOPT_POSTFIELDS, body);
    c->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
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

/* Takes a due subscriber's next batch (t->lock held): at most its maxItems events and about
 * maxBytes (the event that crosses the bound goes too, as on Lambda; at least one event).
 * HTTP: one JSON array; TCP: one event per line. */
static char *event_text(const char *type, json_t *record);

/* Lambda's platform.logsDropped event. */
static char *dropped_text(const char *reason, size_t records, size_t bytes)
{
    json_t *r = json_pack("{s:s, s:I, s:I}", "reason", reason, "droppedRecords",
                          (json_int_t)records, "droppedBytes", (json_int_t)bytes);
    return r ? event_text("platform.logsDropped", r) : NULL;
}

static char *take_batch(struct subscriber *s, size_t *len, size_t *records, size_t *bytes)
{
    size_t n = 0, b = 0;
    while (n < s->n && n < s->max_items && b < s->max_bytes)
        b += s->q[n++].len;
    char *dropped = NULL;
    if (s->dropped_records && (s->cats & CAT_PLATFORM))
        dropped = dropped_text(s->drop_reason, s->dropped_records, s->dropped_bytes);
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
    *records = n;
    *bytes = b;
    memmove(s->q, s->q + n, (s->n - n) * sizeof *s->q);
    s->n -= n;
    s->bytes -= b;
    s->first_ns = mono_ns(); /* what is left waits a whole timeout again */
    return out;
}

/* A batch `from` could not take is gone, as on Lambda, and said in a platform.logsDropped:
 * to the other platform subscribers now, to `from` ahead of its next batch (not as a batch
 * of its own, which would fail again and again). */
static void logs_dropped(struct lbox_telemetry *t, struct subscriber *from, const char *reason,
                         size_t records, size_t bytes)
{
    from->dropped_records += records;
    from->dropped_bytes += bytes;
    snprintf(from->drop_reason, sizeof from->drop_reason, "%s", reason);
    char *text = dropped_text(reason, records, bytes);
    if (!text)
        return;
    struct event e = {.json = text, .len = strlen(text), .cat = CAT_PLATFORM};
    for (size_t i = 0; i < t->nsubs; i++)
        if (&t->subs[i] != from)
            enqueue(&t->subs[i], &e);
    free(text);
}

static void *deliver(void *arg)
{
    struct lbox_telemetry *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        int64_t now = mono_ns(), next = INT64_MAX;
        struct subscriber *s = NULL;
        for (size_t i = 0; i < t->nsubs && !s; i++) {
            if (due(t, &t->subs[i], now))
                s = &t->subs[i];
            else if (t->subs[i].n) {
                int64_t at = t->subs[i].first_ns + (int64_t)t->subs[i].timeout_ms * 1000000;
                next = at < next ? at : next;
            }
        }
        if (!s) {
            pthread_cond_broadcast(&t->idle);
            if (next == INT64_MAX) {
                pthread_cond_wait(&t->wake, &t->lock);
            } else {
                struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
                pthread_cond_timedwait(&t->wake, &t->lock, &ts);
            }
            continue;
        }
        size_t len, records, bytes;
        char *body = take_batch(s, &len, &records, &bytes);
        char *url = s->url ? lbox_xstrdup(s->url) : NULL;
        char *host = s->host_header ? lbox_xstrdup(s->host_header) : NULL;
        int fd = s->tcp_fd;
        bool tcp = s->tcp;
        t->in_flight++;
        pthread_mutex_unlock(&t->lock);
        char why[256];
        if (!tcp)
            post(t, url, host, body, len, why, sizeof why);
        else if (fd >= 0)
            send_tcp(fd, body, len, why, sizeof why);
        else
            snprintf(why, sizeof why, "the TCP connection to the listener was lost");
        free(body);
        free(url);
        free(host);
        pthread_mutex_lock(&t->lock);
        t->in_flight--;
        if (why[0]) {
            /* Dropped, as Lambda drops what it cannot deliver, and said. */
            if (tcp && s->tcp_fd >= 0) {
                close(s->tcp_fd);
                s->tcp_fd = -1;
            }
            char reason[300];
            snprintf(reason, sizeof reason, "could not send events: %s", why);
            logs_dropped(t, s, reason, records, bytes);
        }
        pthread_cond_broadcast(&t->idle);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

void lbox_telemetry_flush(struct lbox_telemetry *t, int timeout_ms)
{
    if (!t)
        return;
    int64_t end = mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&t->lock);
    if (t->thread_started) {
        t->flushing = true;
        pthread_cond_broadcast(&t->wake);
        for (;;) {
            bool queued = t->in_flight > 0;
            for (size_t i = 0; i < t->nsubs; i++)
                queued |= t->subs[i].n > 0;
            if (!queued || mono_ns() >= end)
                break;
            struct timespec ts = {.tv_sec = end / 1000000000, .tv_nsec = end % 1000000000};
            pthread_cond_timedwait(&t->idle, &t->lock, &ts);
        }
        t->flushing = false;
    }
    pthread_mutex_unlock(&t->lock);
}

/* ---- subscription ---- */

static void answer_error(struct lbox_telemetry_answer *a, unsigned status, const char *type,
                         const char *message)
{
    json_t *j = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    a->status = status;
    a->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!a->body)
        a->body = lbox_xstrdup("{}");
    a->content_type = "application/json";
    json_decref(j);
}

/* An integer member of "buffering" within [lo, hi], or its default when absent. */
static int buffering_value(json_t *buffering, const char *key, long lo, long hi, long dflt,
                           long *out, char *why, size_t whylen)
{
    json_t *v = json_object_get(buffering, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(why, whylen, "buffering.%s must be an integer between %ld and %ld", key, lo,
                 hi);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

/* Where the batches go, as Lambda checks it:
 *  - HTTP: {"protocol":"HTTP","URI":"http://sandbox.localdomain:<port>[/<path>]"}; the host
 *    is the sandbox's own name (its /etc/hosts maps it to 127.0.0.1);
 *  - TCP: {"protocol":"TCP","port":<port>}, connected now (newline-delimited JSON). */
static int destination(struct lbox_telemetry *t, json_t *dest, struct subscriber *s, char *why,
                       size_t whylen)
{
    const char *protocol = json_string_value(json_object_get(dest, "protocol"));
    if (!json_is_object(dest) || !protocol ||
        (strcmp(protocol, "HTTP") != 0 && strcmp(protocol, "TCP") != 0)) {
        snprintf(why, whylen, "destination must be {\"protocol\": \"HTTP\", \"URI\": "
                 "\"http://sandbox.localdomain:<port>/<path>\"} or {\"protocol\": \"TCP\", "
                 "\"port\": <port>}");
        return -1;
    }
    if (!strcmp(protocol, "TCP")) {
        json_t *p = json_object_get(dest, "port");
        if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535) {
            snprintf(why, whylen, "destination.port must be an integer between 1 and 65535");
            return -1;
        }
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)json_integer_value(p)),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = t->socket_fn(t->socket_ctx);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            snprintf(why, whylen, "Invalid destination: could not TCP dial provided address "
                     "127.0.0.1:%d: %s", (int)json_integer_value(p), strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        /* A listener that stops reading must not hold the delivery thread for ever. */
        struct timeval tv = {.tv_sec = POST_TIMEOUT_MS / 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        s->tcp = true;
        s->tcp_fd = fd;
        return 0;
    }
    const char *uri = json_string_value(json_object_get(dest, "URI"));
    if (!uri || strncmp(uri, "http://", 7) != 0) {
        snprintf(why, whylen, "Invalid destination: destination.URI must be an http:// URI "
                 "(Lambda supports only HTTP), such as http://sandbox.localdomain:8080/");
        return -1;
    }
    const char *host = uri + 7, *colon = strchr(host, ':'), *slash = strchr(host, '/');
    size_t hlen = colon && (!slash || colon < slash) ? (size_t)(colon - host)
                  : slash ? (size_t)(slash - host) : strlen(host);
    if (!(hlen == 19 && !strncmp(host, "sandbox.localdomain", hlen)) &&
        !(hlen == 7 && !strncmp(host, "sandbox", hlen))) {
        snprintf(why, whylen, "Invalid destination: destination.URI host must be "
                 "sandbox.localdomain");
        return -1;
    }
    char *end = NULL;
    unsigned long port = colon && (!slash || colon < slash) ? strtoul(colon + 1, &end, 10) : 0;
    if (!end || end == colon + 1 || port == 0 || port > 65535 || (*end && *end != '/')) {
        snprintf(why, whylen, "Invalid destination: URI port is not provided");
        return -1;
    }
    s->url = lbox_strdupf("http://127.0.0.1:%lu%s", port, *end ? end : "/");
    s->host_header = lbox_strdupf("Host: %.*s", (int)(end - host), host);
    return 0;
}

static int parse_subscription(struct lbox_telemetry *t, json_t *body, struct subscriber *s,
                              char *why, size_t whylen)
{
    const char *version = json_string_value(json_object_get(body, "schemaVersion"));
    if (!version || (strcmp(version, "2022-07-01") && strcmp(version, "2022-12-13") &&
                     strcmp(version, "2025-01-29"))) {
        snprintf(why, whylen, "schemaVersion must be \"2025-01-29\", \"2022-12-13\" or "
                 "\"2022-07-01\"");
        return -1;
    }
    json_t *types = json_object_get(body, "types"), *v;
    size_t i;
    if (!json_is_array(types) || json_array_size(types) == 0) {
        snprintf(why, whylen, "types must be a non-empty array of \"platform\", \"function\" "
                 "and \"extension\"");
        return -1;
    }
    json_array_foreach(types, i, v) {
        const char *name = json_string_value(v);
        unsigned cat = !name ? 0
                       : !strcmp(name, "platform") ? CAT_PLATFORM
                       : !strcmp(name, "function") ? CAT_FUNCTION
                       : !strcmp(name, "extension") ? CAT_EXTENSION : 0;
        if (!cat) {
            snprintf(why, whylen, "types[%zu] must be \"platform\", \"function\" or "
                     "\"extension\"", i);
            return -1;
        }
        s->cats |= cat;
    }
    json_t *buffering = json_object_get(body, "buffering");
    if (buffering && !json_is_object(buffering)) {
        snprintf(why, whylen, "buffering must be an object");
        return -1;
    }
    long items, bytes, timeout;
    if (buffering_value(buffering, "maxItems", MIN_ITEMS, MAX_ITEMS, DEFAULT_ITEMS, &items,
                        why, whylen) < 0 ||
        buffering_value(buffering, "maxBytes", MIN_BYTES, MAX_BYTES, DEFAULT_BYTES, &bytes,
                        why, whylen) < 0 ||
        buffering_value(buffering, "timeoutMs", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS,
                        DEFAULT_TIMEOUT_MS, &timeout, why, whylen) < 0)
        return -1;
    s->max_items = (unsigned)items;
    s->max_bytes = (size_t)bytes;
    s->timeout_ms = (int)timeout;
    return destination(t, json_object_get(body, "destination"), s, why, whylen);
}

static void subscriber_free(struct subscriber *s)
{
    free(s->url);
    free(s->host_header);
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
}

void lbox_telemetry_subscribe(struct lbox_telemetry *t, const char *name, const char *body,
                              size_t len, struct lbox_telemetry_answer *a)
{
    memset(a, 0, sizeof *a);
    /* Lambda takes subscriptions during the init phase only. */
    pthread_mutex_lock(&t->lock);
    bool closed = t->closed;
    pthread_mutex_unlock(&t->lock);
    if (closed) {
        answer_error(a, 403, "Telemetry.SubscriptionClosed",
                     "Telemetry API subscription is closed");
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body ? body : "", len, 0, &jerr);
    if (!json_is_object(j)) {
        char why[300];
        snprintf(why, sizeof why, "failed to parse JSON: %s",
                 j ? "the body is not a JSON object" : jerr.text);
        json_decref(j);
        answer_error(a, 400, "ValidationError", why);
        return;
    }
    /* The delivery needs libcurl: loaded by the first subscription, not at every start. */
    struct lbox_error err = {0};
    if (!lbox_curl_api(&err)) {
        json_decref(j);
        answer_error(a, 500, "InternalServerError", err.msg);
        return;
    }
    struct subscriber s = {.tcp_fd = -1};
    char why[512];
    int rc = parse_subscription(t, j, &s, why, sizeof why);
    json_t *types = json_deep_copy(json_object_get(j, "types"));
    json_decref(j);
    if (rc < 0) {
        subscriber_free(&s);
        json_decref(types);
        answer_error(a, 400, "ValidationError", why);
        return;
    }
    snprintf(s.name, sizeof s.name, "%s", name);

    pthread_mutex_lock(&t->lock);
    struct subscriber *slot = NULL;
    for (size_t i = 0; i < t->nsubs; i++)
        if (!strcmp(t->subs[i].name, s.name))
            slot = &t->subs[i];
    bool again = slot != NULL;
    if (!slot && t->nsubs == MAX_SUBSCRIBERS) {
        pthread_mutex_unlock(&t->lock);
        subscriber_free(&s);
        json_decref(types);
        answer_error(a, 400, "ValidationError", "too many subscriptions");
        return;
    }
    if (slot) {
        /* Subscribing again keeps what is queued and takes the new settings. */
        struct subscriber old = *slot;
        slot->url = s.url;
        slot->host_header = s.host_header;
        slot->tcp = s.tcp;
        slot->tcp_fd = s.tcp_fd;
        slot->cats = s.cats;
        slot->max_items = s.max_items;
        slot->max_bytes = s.max_bytes;
        slot->timeout_ms = s.timeout_ms;
        old.q = NULL;
        subscriber_free(&old);
    } else {
        slot = &t->subs[t->nsubs++];
        *slot = s;
        for (size_t i = 0; i < t->nkept; i++)
            enqueue(slot, &t->kept[i]);
    }
    if (!t->thread_started && pthread_create(&t->thread, NULL, deliver, t) == 0)
        t->thread_started = true;
    pthread_mutex_unlock(&t->lock);

    json_t *record = json_pack("{s:s, s:s, s:o}", "name", name, "state",
                               again ? "Already subscribed" : "Subscribed", "types", types);
    char *text = record ? event_text("platform.telemetrySubscription", record) : NULL;
    if (text)
        publish(t, text, CAT_PLATFORM);
    a->status = 200;
    a->body = lbox_xstrdup("\"OK\"");
    a->content_type = "application/json";
}
