/* The Telemetry and Logs APIs' subscriptions and deliveries (runner/telemetry.c): what a
 * subscription is refused for, and batches to a TCP listener on this host's loopback (the
 * socket function stands for the sandbox's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runner/telemetry.h"
#include "ndjson_reader.h"

static int plain_socket(void *ctx)
{
    (void)ctx;
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static void subscribe_with(struct lbox_telemetry *t, enum lbox_telemetry_api api,
                           const char *name, const char *body)
{
    struct lbox_telemetry_answer a;
    lbox_telemetry_subscribe(t, api, name, body, strlen(body), &a);
    assert_int_equal(a.status, 200);
    free(a.body);
}

static void subscribe_as(struct lbox_telemetry *t, const char *name, const char *body)
{
    subscribe_with(t, LBOX_TELEMETRY_API, name, body);
}

/* The answer to `name`'s subscription with that API: status, and the error's type and part
 * of its message (or "OK"). */
static void answer_to(struct lbox_telemetry *t, enum lbox_telemetry_api api, const char *name,
                      const char *body, unsigned status, const char *type,
                      const char *message_part)
{
    struct lbox_telemetry_answer a;
    lbox_telemetry_subscribe(t, api, name, body, strlen(body), &a);
    print_message("%s -> %u %s\n", body, a.status, a.body);
    assert_int_equal(a.status, status);
    if (type) {
        json_t *j = json_loads(a.body, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "errorType")), type);
        assert_non_null(strstr(json_string_value(json_object_get(j, "errorMessage")),
                               message_part));
        json_decref(j);
    } else {
        assert_string_equal(a.body, "\"OK\"");
    }
    free(a.body);
}

static void answer_is(struct lbox_telemetry *t, const char *body, unsigned status,
                      const char *type, const char *message_part)
{
    answer_to(t, LBOX_TELEMETRY_API, "probe", body, status, type, message_part);
}

#define HTTP_DEST "\"destination\":{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:4243/x\"}"

static void refused_subscriptions(void **state)
{
    (void)state;
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    answer_is(t, "{\"schemaVersion\"", 400, "ValidationError", "failed to parse JSON");
    answer_is(t, "[]", 400, "ValidationError", "not a JSON object");
    answer_is(t, "{\"schemaVersion\":\"2021-01-01\",\"types\":[\"platform\"]," HTTP_DEST "}",
              400, "ValidationError", "schemaVersion");
    answer_is(t, "{\"schemaVersion\":\"2022-12-13\",\"types\":[]," HTTP_DEST "}", 400,
              "ValidationError", "types");
    answer_is(t, "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"logs\"]," HTTP_DEST "}", 400,
              "ValidationError", "types[0]");
    const char *buffering[] = {"{\"maxItems\":999}", "{\"maxItems\":10001}",
                               "{\"maxBytes\":262143}", "{\"maxBytes\":1048577}",
                               "{\"timeoutMs\":24}", "{\"timeoutMs\":30001}",
                               "{\"timeoutMs\":\"100\"}"};
    for (size_t i = 0; i < sizeof buffering / sizeof *buffering; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],\"buffering\":%s,"
                 HTTP_DEST "}", buffering[i]);
        answer_is(t, body, 400, "ValidationError", "buffering.");
    }
    const char *dests[] = {"{\"protocol\":\"HTTP\",\"URI\":\"http://localhost:4243/\"}",
                           "{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain/\"}",
                           "{\"protocol\":\"HTTP\",\"URI\":\"https://sandbox:4243/\"}",
                           "{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox:99999/\"}",
                           "{\"protocol\":\"UDP\",\"port\":4243}",
                           "{\"protocol\":\"TCP\",\"port\":0}"};
    for (size_t i = 0; i < sizeof dests / sizeof *dests; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],\"destination\":%s}",
                 dests[i]);
        answer_is(t, body, 400, "ValidationError", "destination");
    }
    /* Both names of the sandbox are its own; a path is optional. */
    answer_is(t, "{\"schemaVersion\":\"2025-01-29\",\"types\":[\"platform\"],\"destination\":"
                 "{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox:4243\"}}", 200, NULL, NULL);
    answer_is(t, "{\"schemaVersion\":\"2022-07-01\",\"types\":[\"function\"]," HTTP_DEST "}",
              200, NULL, NULL);
    lbox_telemetry_init_over(t);
    answer_is(t, "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"]," HTTP_DEST "}",
              403, "Telemetry.SubscriptionClosed", "closed");
    lbox_telemetry_free(t);
}

/* A listener on this host's loopback with that accept queue; its port in *port. */
static int listener_with(uint16_t *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int listener(uint16_t *port)
{
    return listener_with(port, 4);
}

static void subscribe_ok(struct lbox_telemetry *t, const char *body)
{
    subscribe_as(t, "probe", body);
}

static json_t *read_events(int fd, size_t want)
{
    return read_events_within(fd, want, 5000);
}

static size_t count_type(json_t *events, const char *type)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(events, i, e)
        n += !strcmp(json_string_value(json_object_get(e, "type")), type);
    return n;
}

static struct lbox_telemetry *tcp_subscriber(int lfd, uint16_t port, const char *types,
                                             const char *buffering, int *conn)
{
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    char body[512];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":%s,\"buffering\":%s,"
             "\"destination\":{\"protocol\":\"TCP\",\"port\":%u}}",
             types, buffering, port);
    subscribe_ok(t, body);
    *conn = accept(lfd, NULL, NULL);
    assert_true(*conn >= 0);
    return t;
}

/* Events from before the subscription come first; the categories are filtered; the
 * subscription's own event is there; a flush sends what the timeout still holds. */
static void replay_filter_and_flush(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(&port), conn;
    struct lbox_telemetry *t0 = lbox_telemetry_new(plain_socket, NULL, false);
    lbox_telemetry_free(t0); /* free with no subscriber and no thread */
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    lbox_telemetry_platform(t, "platform.initStart", json_pack("{s:s}", "phase", "init"));
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "early line", 10);
    lbox_telemetry_free(t);

    t = tcp_subscriber(lfd, port, "[\"platform\",\"extension\"]", "{\"timeoutMs\":30000}", &conn);
    lbox_telemetry_platform(t, "platform.start", json_pack("{s:s}", "requestId", "r1"));
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "a function line", 15);
    lbox_telemetry_log(t, LBOX_TELEMETRY_EXTENSION, "{\"level\":\"INFO\"}", 16);
    lbox_telemetry_log(t, LBOX_TELEMETRY_EXTENSION, "a\xff\xc3\xa9\xe2\x82", 6);
    lbox_telemetry_flush(t, 2000);
    json_t *ev = read_events(conn, 4);
    assert_int_equal(json_array_size(ev), 4);
    assert_int_equal(count_type(ev, "platform.telemetrySubscription"), 1);
    assert_int_equal(count_type(ev, "platform.start"), 1);
    assert_int_equal(count_type(ev, "function"), 0);
    /* An extension's line stays text, even one that is JSON. */
    assert_true(json_is_string(json_object_get(json_array_get(ev, 2), "record")));
    /* Bytes that are not UTF-8 become U+FFFD, the rest of the line stays. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 3), "record")),
                        "a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(ev);
    lbox_telemetry_free(t);
    close(conn);

    /* Kept from before: a subscriber that comes later still gets the init's start. With the
     * JSON log format a function's line that is a JSON object is an object record. */
    t = lbox_telemetry_new(plain_socket, NULL, true);
    lbox_telemetry_init_start(t, true);
    lbox_telemetry_platform(t, "platform.initStart", json_pack("{s:s}", "phase", "init"));
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "early line", 10);
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "{\"message\":\"m\"}", 15);
    struct lbox_telemetry *keep = t;
    char body[256];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\",\"function\"],"
             "\"destination\":{\"protocol\":\"TCP\",\"port\":%u}}", port);
    subscribe_ok(keep, body);
    conn = accept(lfd, NULL, NULL);
    lbox_telemetry_flush(keep, 2000);
    ev = read_events(conn, 4);
    assert_int_equal(json_array_size(ev), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "type")),
                        "platform.initStart");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "record")),
                        "early line");
    /* A function's line that is a JSON object (AWS_LAMBDA_LOG_FORMAT=JSON) is its record. */
    assert_true(json_is_object(json_object_get(json_array_get(ev, 2), "record")));
    json_decref(ev);
    lbox_telemetry_free(keep);
    close(conn);
    close(lfd);
}

/* A batch goes when it holds maxItems events, and when its timeout passes, without a flush. */
static void batch_bounds(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(&port), conn;
    struct lbox_telemetry *t =
        tcp_subscriber(lfd, port, "[\"function\"]", "{\"maxItems\":1000,\"timeoutMs\":30000}",
                       &conn);
    for (int i = 0; i < 1000; i++)
        lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "line", 4);
    json_t *ev = read_events(conn, 1000);
    assert_int_equal(json_array_size(ev), 1000);
    json_decref(ev);
    lbox_telemetry_free(t);
    close(conn);

    t = tcp_subscriber(lfd, port, "[\"function\"]", "{\"timeoutMs\":25}", &conn);
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "one", 3);
    ev = read_events(conn, 1);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    lbox_telemetry_free(t);
    close(conn);
    close(lfd);
}

/* A telemetry whose one subscriber ("probe", function lines, 25 ms batches) POSTs to an
 * HTTP listener on this host's loopback; the listener in *lfd. */
static struct lbox_telemetry *http_subscriber(int *lfd)
{
    uint16_t port;
    *lfd = listener(&port);
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    char body[256];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"function\"],\"buffering\":"
             "{\"timeoutMs\":25},\"destination\":{\"protocol\":\"HTTP\",\"URI\":"
             "\"http://sandbox.localdomain:%u/\"}}", port);
    subscribe_ok(t, body);
    return t;
}

/* A listener that takes the connection and never answers holds a delivery until its 5 s
 * timeout; freeing the telemetry (the environment ends) does not wait for that. */
static void free_ends_a_hung_delivery(void **state)
{
    (void)state;
    int lfd;
    struct lbox_telemetry *t = http_subscriber(&lfd);
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "line", 4);
    lbox_telemetry_flush(t, 300); /* gives up: the listener does not answer */
    int conn = accept(lfd, NULL, NULL); /* the delivery did connect */
    assert_true(conn >= 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lbox_telemetry_free(t);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("free took %.2f s\n", s);
    assert_true(s < 3.0);
    close(conn);
    close(lfd);
}

/* One subscriber's listener that never answers holds up its own batches only: another
 * subscriber gets its events meanwhile (the POST that hangs takes 5 s to give up). */
static void slow_listener_holds_up_only_itself(void **state)
{
    (void)state;
    uint16_t hport, tport;
    int hl = listener(&hport), tl = listener(&tport);
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    char body[256];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"function\"],\"buffering\":"
             "{\"timeoutMs\":25},\"destination\":{\"protocol\":\"HTTP\",\"URI\":"
             "\"http://sandbox.localdomain:%u/\"}}", hport);
    subscribe_as(t, "stuck", body);
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"function\"],\"buffering\":"
             "{\"timeoutMs\":25},\"destination\":{\"protocol\":\"TCP\",\"port\":%u}}",
             tport);
    subscribe_as(t, "fine", body);
    int conn = accept(tl, NULL, NULL);
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "first", 5);
    json_t *ev = read_events_within(conn, 1, 2000);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    /* The stuck one's POST of "first" hangs now; "second" still reaches the other. */
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "second", 6);
    ev = read_events_within(conn, 1, 2000);
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "record")),
                        "second");
    json_decref(ev);
    lbox_telemetry_free(t);
    close(conn);
    close(tl);
    close(hl);
}

/* A TCP listener that never accepts (its queue full) fails the subscription within about a
 * second, instead of holding the Runtime API for the kernel's two minutes of retries. */
static void tcp_listener_that_never_accepts(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener_with(&port, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fill[4];
    for (int i = 0; i < 4; i++) { /* the queue fills; later connections' SYNs are dropped */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    usleep(100 * 1000);
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    char body[256];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],\"destination\":"
             "{\"protocol\":\"TCP\",\"port\":%u}}", port);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    answer_is(t, body, 400, "ValidationError", "could not TCP dial");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    lbox_telemetry_free(t);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

/* A batch the listener does not take is sent three times (after 100 and 200 ms), then given
 * up: a listener that answers nothing and hangs up gets exactly three connections. */
static void refused_batch_is_tried_three_times(void **state)
{
    (void)state;
    int lfd;
    struct lbox_telemetry *t = http_subscriber(&lfd);
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "line", 4);
    int attempts = 0;
    for (;;) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 1500) <= 0)
            break;
        close(accept(lfd, NULL, NULL));
        attempts++;
    }
    assert_int_equal(attempts, 3);
    lbox_telemetry_free(t);
    close(lfd);
}

/* Accepts one connection on lfd, reads one HTTP request from it and answers 200: the
 * request as it came. */
static char *take_one_request(int lfd)
{
    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    static char req[1 << 16];
    size_t len = 0;
    struct pollfd p = {.fd = c, .events = POLLIN};
    while (len < sizeof req - 1 && poll(&p, 1, 300) > 0) {
        ssize_t n = read(c, req + len, sizeof req - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    req[len] = '\0';
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(write(c, ok, strlen(ok)), (ssize_t)strlen(ok));
    close(c);
    return req;
}

/* A batch lost after its three attempts is told to its subscriber, in a
 * platform.logsDropped ahead of its next batch; another subscriber, whose own buffer lost
 * nothing, hears nothing of it. */
static void a_subscriber_hears_of_its_own_losses_only(void **state)
{
    (void)state;
    uint16_t port, other_port;
    int lfd = listener(&port), other_lfd = listener(&other_port), other;
    struct lbox_telemetry *t = tcp_subscriber(other_lfd, other_port, "[\"platform\"]",
                                              "{\"timeoutMs\":25}", &other);
    char body[256];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\",\"function\"],"
             "\"buffering\":{\"timeoutMs\":25},\"destination\":{\"protocol\":\"HTTP\",\"URI\":"
             "\"http://sandbox.localdomain:%u/\"}}", port);
    subscribe_as(t, "lossy", body);
    /* Its first batch (its subscription note and a line) is refused three times. */
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "lost", 4);
    for (int attempt = 0; attempt < 3; attempt++) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 2000), 1);
        close(accept(lfd, NULL, NULL));
    }
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "kept", 4);
    char *req = take_one_request(lfd);
    assert_non_null(strstr(req, "\"type\":\"platform.logsDropped\""));
    assert_non_null(strstr(req, "\"droppedRecords\":2"));
    assert_non_null(strstr(req, "\"record\":\"kept\""));
    lbox_telemetry_flush(t, 2000);
    json_t *ev = read_events_within(other, 100, 300);
    assert_int_equal(count_type(ev, "platform.logsDropped"), 0);
    assert_int_equal(count_type(ev, "platform.telemetrySubscription"), 2);
    json_decref(ev);
    lbox_telemetry_free(t);
    close(other);
    close(other_lfd);
    close(lfd);
}

/* Events kept in the init for subscribers to come have a budget for each API: many Logs API
 * events do not crowd out the Telemetry API's. */
static void each_api_keeps_its_own_init_events(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(&port), conn;
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    lbox_telemetry_init_start(t, true);
    for (int i = 0; i < 1500; i++)
        lbox_telemetry_logs_platform(t, "platform.extension", json_pack("{s:i}", "n", i));
    for (int i = 0; i < 1200; i++)
        lbox_telemetry_platform(t, "platform.extension", json_pack("{s:i}", "n", i));
    char body[256];
    snprintf(body, sizeof body, "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],"
             "\"destination\":{\"protocol\":\"TCP\",\"port\":%u}}", port);
    subscribe_ok(t, body);
    conn = accept(lfd, NULL, NULL);
    lbox_telemetry_flush(t, 3000);
    json_t *ev = read_events(conn, 1001);
    assert_int_equal(count_type(ev, "platform.extension"), 1000);
    json_decref(ev);
    lbox_telemetry_free(t);
    close(conn);
    close(lfd);
}

/* The Logs API's subscription: its schema versions (2020-08-15 when absent), the listener's
 * method, its own error types, and one API per extension. */
static void logs_api_subscriptions(void **state)
{
    (void)state;
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, false);
    const enum lbox_telemetry_api L = LBOX_LOGS_API, T = LBOX_TELEMETRY_API;
    answer_to(t, L, "probe", "{\"types\":", 400, "Logs.ValidationError", "failed to parse");
    answer_to(t, L, "probe", "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],"
              HTTP_DEST "}", 400, "Logs.ValidationError", "schemaVersion");
    answer_to(t, L, "probe", "{\"types\":[\"metrics\"]," HTTP_DEST "}", 400,
              "Logs.ValidationError", "types[0]");
    answer_to(t, L, "probe", "{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"HTTP\","
              "\"URI\":\"http://sandbox:4243/\",\"method\":\"GET\"}}", 400,
              "Logs.ValidationError", "destination.method");
    answer_to(t, L, "probe", "{\"types\":[\"platform\"],\"destination\":{\"protocol\":\"HTTP\","
              "\"URI\":\"http://sandbox:4243/\",\"method\":\"PUT\",\"encoding\":\"JSON\"}}",
              200, NULL, NULL);
    answer_to(t, L, "probe", "{\"schemaVersion\":\"2021-03-18\",\"types\":[\"function\"],"
              HTTP_DEST "}", 200, NULL, NULL);
    /* One API or the other, per extension. */
    answer_to(t, T, "probe", "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],"
              HTTP_DEST "}", 400, "ValidationError", "already subscribed with the Logs API");
    answer_to(t, T, "other", "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\"],"
              HTTP_DEST "}", 200, NULL, NULL);
    answer_to(t, L, "other", "{\"types\":[\"platform\"]," HTTP_DEST "}", 400,
              "Logs.ValidationError", "already subscribed with the Telemetry API");
    lbox_telemetry_init_over(t);
    answer_to(t, L, "probe", "{\"types\":[\"platform\"]," HTTP_DEST "}", 403,
              "Logs.SubscriptionClosed", "Logs API subscription is closed already");
    lbox_telemetry_free(t);
}

/* A TCP subscriber named `name` of that API; its connection. */
static int tcp_subscribe(struct lbox_telemetry *t, enum lbox_telemetry_api api, const char *name,
                         int lfd, uint16_t port, const char *fields)
{
    char body[512];
    snprintf(body, sizeof body, "{%s,\"buffering\":{\"timeoutMs\":30000},"
             "\"destination\":{\"protocol\":\"TCP\",\"port\":%u}}", fields, port);
    subscribe_with(t, api, name, body);
    int conn = accept(lfd, NULL, NULL);
    assert_true(conn >= 0);
    return conn;
}

/* Each API's subscribers get that API's events only: a Logs API subscriber its platform
 * events (platform.runtimeDone with schema 2021-03-18 only) and the function's records as
 * text with their newline. */
static void each_api_gets_its_own_events(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(&port);
    struct lbox_telemetry *t = lbox_telemetry_new(plain_socket, NULL, true);
    int logs_new = tcp_subscribe(t, LBOX_LOGS_API, "new", lfd, port,
                                 "\"schemaVersion\":\"2021-03-18\","
                                 "\"types\":[\"platform\",\"function\"]");
    int logs_old = tcp_subscribe(t, LBOX_LOGS_API, "old", lfd, port, "\"types\":[\"platform\"]");
    int tele = tcp_subscribe(t, LBOX_TELEMETRY_API, "tele", lfd, port,
                             "\"schemaVersion\":\"2022-12-13\","
                             "\"types\":[\"platform\",\"function\"]");
    lbox_telemetry_platform(t, "platform.start", json_pack("{s:s}", "requestId", "r1"));
    lbox_telemetry_logs_platform(t, "platform.start",
                                 json_pack("{s:s, s:s}", "requestId", "r1", "version", "$LATEST"));
    lbox_telemetry_log(t, LBOX_TELEMETRY_FUNCTION, "{\"message\":\"m\"}", 15);
    lbox_telemetry_logs_platform(t, "platform.runtimeDone",
                                 json_pack("{s:s, s:s}", "requestId", "r1", "status", "success"));
    lbox_telemetry_logs_platform(t, "platform.fault", json_string("RequestId: r1 Process exited"));
    lbox_telemetry_flush(t, 2000);

    /* new: the Logs API's two subscription notes (its own and old's, not tele's), the
     * start, the record, runtimeDone and the fault. */
    json_t *ev = read_events_within(logs_new, 100, 500);
    assert_int_equal(count_type(ev, "platform.logsSubscription"), 2);
    assert_int_equal(count_type(ev, "platform.telemetrySubscription"), 0);
    assert_int_equal(count_type(ev, "platform.start"), 1);
    assert_int_equal(count_type(ev, "platform.runtimeDone"), 1);
    assert_int_equal(count_type(ev, "platform.fault"), 1);
    assert_int_equal(count_type(ev, "function"), 1);
    assert_int_equal(json_array_size(ev), 6);
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        const char *type = json_string_value(json_object_get(e, "type"));
        json_t *r = json_object_get(e, "record");
        if (!strcmp(type, "function")) /* text, even with the JSON log format */
            assert_string_equal(json_string_value(r), "{\"message\":\"m\"}\n");
        if (!strcmp(type, "platform.start"))
            assert_string_equal(json_string_value(json_object_get(r, "version")), "$LATEST");
        if (!strcmp(type, "platform.fault"))
            assert_string_equal(json_string_value(r), "RequestId: r1 Process exited");
    }
    json_decref(ev);

    /* old (schema 2020-08-15): no platform.runtimeDone. */
    ev = read_events_within(logs_old, 100, 500);
    assert_int_equal(count_type(ev, "platform.runtimeDone"), 0);
    assert_int_equal(count_type(ev, "platform.start"), 1);
    assert_int_equal(count_type(ev, "platform.fault"), 1);
    assert_int_equal(count_type(ev, "function"), 0);
    json_decref(ev);

    /* tele: its own subscription note, its start and the record as an object. */
    ev = read_events_within(tele, 100, 500);
    assert_int_equal(json_array_size(ev), 3);
    assert_int_equal(count_type(ev, "platform.telemetrySubscription"), 1);
    assert_int_equal(count_type(ev, "platform.start"), 1);
    assert_null(json_object_get(json_object_get(json_array_get(ev, 1), "record"), "version"));
    assert_true(json_is_object(json_object_get(json_array_get(ev, 2), "record")));
    json_decref(ev);
    lbox_telemetry_free(t);
    close(logs_new);
    close(logs_old);
    close(tele);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_subscriptions),
        cmocka_unit_test(replay_filter_and_flush),
        cmocka_unit_test(batch_bounds),
        cmocka_unit_test(free_ends_a_hung_delivery),
        cmocka_unit_test(slow_listener_holds_up_only_itself),
        cmocka_unit_test(tcp_listener_that_never_accepts),
        cmocka_unit_test(refused_batch_is_tried_three_times),
        cmocka_unit_test(a_subscriber_hears_of_its_own_losses_only),
        cmocka_unit_test(each_api_keeps_its_own_init_events),
        cmocka_unit_test(logs_api_subscriptions),
        cmocka_unit_test(each_api_gets_its_own_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
