/* A Telemetry API or Logs API subscription, checked as Lambda checks it (telemetry.h): its
 * JSON, schema version, types, buffering bounds and destination, in that order, with
 * Lambda's answers. The two APIs take the same body but for the schema versions and, in
 * the Logs API, the listener's HTTP method. */
#include "telemetry_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "builder/curl_api.h"
#include "common/fsutil.h"

/* Lambda's bounds and defaults for "buffering" (the Telemetry and Logs API references). */
#define MIN_ITEMS 1000
#define MAX_ITEMS 10000
#define DEFAULT_ITEMS 10000
#define MIN_BYTES 262144
#define MAX_BYTES 1048576
#define DEFAULT_BYTES 262144
#define MIN_TIMEOUT_MS 25
#define MAX_TIMEOUT_MS 30000
#define DEFAULT_TIMEOUT_MS 1000

static void answer_error(struct lbox_telemetry_answer *a, unsigned status, const char *type,
                         const char *message)
{
    json_t *j = json_pack("{s:s, s:s}", "errorMessage", message, "errorType", type);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    a->status = status;
    /* With the newline RAPID's JSON replies end with. */
    a->body = lbox_strdupf("%s\n", text ? text : "{}");
    free(text);
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

/* Connects fd to 127.0.0.1:port, giving up after ms (a listener whose queue is full would
 * hold a blocking connect for minutes): 0, or the errno. fd stays blocking. */
static int connect_within(int fd, uint16_t port, int ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int e = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof e;
            if (poll(&pf, 1, ms) != 1)
                e = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                e = errno;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return e;
}

/* Where the batches go, as Lambda checks it:
 *  - HTTP: {"protocol":"HTTP","URI":"http://sandbox.localdomain:<port>[/<path>]"}; the host
 *    is the sandbox's own name (its /etc/hosts maps it to 127.0.0.1);
 *  - TCP: {"protocol":"TCP","port":<port>}, connected now (newline-delimited JSON). */
static int destination(struct lbox_telemetry *t, json_t *dest, struct subscriber *s, char *why,
                       size_t whylen)
{
    /* The Logs API's listener may ask for PUT rather than POST; JSON is its one encoding. */
    if (s->api == LBOX_LOGS_API && json_is_object(dest)) {
        json_t *method = json_object_get(dest, "method"), *enc = json_object_get(dest, "encoding");
        const char *m = json_string_value(method);
        if ((method && (!m || (strcmp(m, "POST") && strcmp(m, "PUT")))) ||
            (enc && (!json_is_string(enc) || strcmp(json_string_value(enc), "JSON")))) {
            snprintf(why, whylen, "destination.method must be \"POST\" or \"PUT\", and "
                     "destination.encoding \"JSON\"");
            return -1;
        }
        s->put = m && !strcmp(m, "PUT");
    }
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
        int port = (int)json_integer_value(p);
        int fd = t->socket_fn(t->socket_ctx);
        int e = fd < 0 ? errno : connect_within(fd, (uint16_t)port, CONNECT_TIMEOUT_MS);
        if (e) {
            snprintf(why, whylen, "Invalid destination: could not TCP dial provided address "
                     "127.0.0.1:%d: %s", port, strerror(e));
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

/* The schema version, which the Telemetry API requires and the Logs API takes as
 * 2020-08-15 when absent. *runtime_done: a Logs API schema with platform.runtimeDone
 * (2021-03-18). */
static int schema_version(json_t *body, struct subscriber *s, bool *runtime_done, char *why,
                          size_t whylen)
{
    json_t *v = json_object_get(body, "schemaVersion");
    const char *version = json_string_value(v);
    *runtime_done = false;
    if (s->api == LBOX_LOGS_API) {
        if (v && (!version || (strcmp(version, "2020-08-15") && strcmp(version, "2021-03-18")))) {
            snprintf(why, whylen, "schemaVersion must be \"2021-03-18\" or \"2020-08-15\"");
            return -1;
        }
        *runtime_done = version && !strcmp(version, "2021-03-18");
        return 0;
    }
    if (!version || (strcmp(version, "2022-07-01") && strcmp(version, "2022-12-13") &&
                     strcmp(version, "2025-01-29"))) {
        snprintf(why, whylen, "schemaVersion must be \"2025-01-29\", \"2022-12-13\" or "
                 "\"2022-07-01\"");
        return -1;
    }
    return 0;
}

/* A name of "types" as the subscriber's API's category; 0 if it is none. */
static unsigned category(const char *name, enum lbox_telemetry_api api)
{
    static const struct { const char *name; unsigned telemetry, logs; } cats[] = {
        {"platform", CAT_PLATFORM, CAT_LOGS_PLATFORM},
        {"function", CAT_FUNCTION, CAT_LOGS_FUNCTION},
        {"extension", CAT_EXTENSION, CAT_LOGS_EXTENSION},
    };
    for (size_t i = 0; name && i < sizeof cats / sizeof *cats; i++)
        if (!strcmp(name, cats[i].name))
            return api == LBOX_LOGS_API ? cats[i].logs : cats[i].telemetry;
    return 0;
}

static int parse_subscription(struct lbox_telemetry *t, json_t *body, struct subscriber *s,
                              char *why, size_t whylen)
{
    bool runtime_done;
    if (schema_version(body, s, &runtime_done, why, whylen) < 0)
        return -1;
    json_t *types = json_object_get(body, "types"), *v;
    size_t i;
    if (!json_is_array(types) || json_array_size(types) == 0) {
        snprintf(why, whylen, "types must be a non-empty array of \"platform\", \"function\" "
                 "and \"extension\"");
        return -1;
    }
    json_array_foreach(types, i, v) {
        unsigned cat = category(json_string_value(v), s->api);
        if (!cat) {
            snprintf(why, whylen, "types[%zu] must be \"platform\", \"function\" or "
                     "\"extension\"", i);
            return -1;
        }
        s->cats |= cat;
    }
    if (runtime_done && (s->cats & CAT_LOGS_PLATFORM))
        s->cats |= CAT_LOGS_RUNTIME_DONE;
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

/* What differs in the two APIs' answers and events. */
struct api_names {
    const char *closed_type, *closed_message, *invalid_type, *event, *other;
    unsigned platform_cat;
};

static const struct api_names *names_of(enum lbox_telemetry_api api)
{
    static const struct api_names telemetry = {
        "Telemetry.SubscriptionClosed", "Telemetry API subscription is closed already",
        "ValidationError", "platform.telemetrySubscription", "Logs API", CAT_PLATFORM};
    static const struct api_names logs = {
        "Logs.SubscriptionClosed", "Logs API subscription is closed already",
        "Logs.ValidationError", "platform.logsSubscription", "Telemetry API",
        CAT_LOGS_PLATFORM};
    return api == LBOX_LOGS_API ? &logs : &telemetry;
}

void lbox_telemetry_subscribe(struct lbox_telemetry *t, enum lbox_telemetry_api api,
                              const char *name, const char *body, size_t len,
                              struct lbox_telemetry_answer *a)
{
    memset(a, 0, sizeof *a);
    const struct api_names *n = names_of(api);
    /* Lambda takes subscriptions during the init phase only. */
    if (telemetry_closed(t)) {
        answer_error(a, 403, n->closed_type, n->closed_message);
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body ? body : "", len, 0, &jerr);
    if (!json_is_object(j)) {
        char why[300];
        snprintf(why, sizeof why, "failed to parse JSON: %s",
                 j ? "the body is not a JSON object" : jerr.text);
        json_decref(j);
        answer_error(a, 400, n->invalid_type, why);
        return;
    }
    /* The delivery needs libcurl: loaded by the first subscription, not at every start. */
    struct lbox_error err = {0};
    if (!lbox_curl_api(&err)) {
        json_decref(j);
        answer_error(a, 500, "InternalServerError", err.msg);
        return;
    }
    struct subscriber *s = lbox_xcalloc(1, sizeof *s);
    s->api = api;
    s->tcp_fd = -1;
    char why[512];
    int rc = parse_subscription(t, j, s, why, sizeof why);
    json_t *types = json_deep_copy(json_object_get(j, "types"));
    json_decref(j);
    if (rc < 0) {
        telemetry_subscriber_free(s);
        json_decref(types);
        answer_error(a, 400, n->invalid_type, why);
        return;
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    bool again;
    rc = telemetry_add(t, s, &again);
    if (rc < 0) {
        telemetry_subscriber_free(s);
        json_decref(types);
        if (rc == -2)
            snprintf(why, sizeof why, "%s already subscribed with the %s: an extension "
                     "subscribes with the Telemetry API or the Logs API, not both", name,
                     n->other);
        answer_error(a, 400, n->invalid_type, rc == -2 ? why : "too many subscriptions");
        return;
    }
    json_t *record = json_pack("{s:s, s:s, s:o}", "name", name, "state",
                               again ? "Already subscribed" : "Subscribed", "types", types);
    char *text = record ? telemetry_event_text(n->event, record) : NULL;
    if (text)
        telemetry_publish(t, text, n->platform_cat);
    a->status = 200;
    a->body = lbox_xstrdup("\"OK\"");
    a->content_type = "application/json";
}
