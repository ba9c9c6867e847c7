/* The Runtime API server over a real loopback socket, with libcurl as the runtime: every
 * endpoint, header, status code and error body that Lambda's runtimes and extensions meet. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "runner/runtime_api.h"

static const char *RID = "0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d";

struct server {
    struct lbox_rapi *api;
    int port;
    char streamed[256];
    size_t streamed_len;
};

static void on_stream(void *ctx, const void *data, size_t len)
{
    struct server *s = ctx;
    size_t room = sizeof s->streamed - 1 - s->streamed_len;
    if (len > room)
        len = room;
    memcpy(s->streamed + s->streamed_len, data, len);
    s->streamed_len += len;
    s->streamed[s->streamed_len] = 0;
}

static int start_server(void **state, const char *account_id)
{
    struct server *s = calloc(1, sizeof *s);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    struct lbox_rapi_config cfg = {.function_name = "hello", .function_version = "$LATEST",
                                   .handler = "index.handler", .account_id = account_id,
                                   .stream = on_stream, .stream_ctx = s};
    struct lbox_error err = {0};
    assert_int_equal(lbox_rapi_start(fd, &cfg, &s->api, &err), 0);
    *state = s;
    return 0;
}

static int setup(void **state)
{
    return start_server(state, NULL);
}

static int setup_with_account(void **state)
{
    return start_server(state, "123456789012");
}

static int setup_with_empty_account(void **state)
{
    return start_server(state, "");
}

static int teardown(void **state)
{
    struct server *s = *state;
    if (s->api) /* a test may have stopped it itself */
        lbox_rapi_stop(s->api);
    free(s);
    return 0;
}

/* ---- a tiny libcurl client ---------------------------------------------------------------- */

struct reply {
    long status;
    char body[8192];
    size_t len;
    char headers[4096];
    size_t hlen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = sz * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = sz * n, room = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->headers[r->hlen] = 0;
    return sz * n;
}

struct upload {
    const char *data;
    size_t len, pos;
    const char *trailer_type, *trailer_body;
};

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t want = sz * n, left = u->len - u->pos;
    if (want > left)
        want = left;
    if (want > 5) /* several chunks on a streamed upload */
        want = 5;
    memcpy(buf, u->data + u->pos, want);
    u->pos += want;
    return want;
}

static int on_trailer(struct curl_slist **list, void *ud)
{
    struct upload *u = ud;
    char line[512];
    snprintf(line, sizeof line, "Lambda-Runtime-Function-Error-Type: %s", u->trailer_type);
    *list = curl_slist_append(*list, line);
    snprintf(line, sizeof line, "Lambda-Runtime-Function-Error-Body: %s", u->trailer_body);
    *list = curl_slist_append(*list, line);
    return CURL_TRAILERFUNC_OK;
}

static void http(struct server *s, const char *method, const char *path, const char *const *hdrs,
                 const void *body, size_t len, struct reply *r, struct upload *chunked)
{
    memset(r, 0, sizeof *r);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    for (; hdrs && *hdrs; hdrs++)
        h = curl_slist_append(h, *hdrs);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (chunked) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, chunked);
        if (chunked->trailer_type) {
            curl_easy_setopt(c, CURLOPT_TRAILERFUNCTION, on_trailer);
            curl_easy_setopt(c, CURLOPT_TRAILERDATA, chunked);
        }
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void post(struct server *s, const char *path, const char *body, struct reply *r)
{
    http(s, "POST", path, NULL, body, strlen(body), r, NULL);
}

static bool has_header(const struct reply *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

/* A /next from its own thread, since it blocks until an invoke is queued. */
struct next_call {
    struct server *s;
    struct reply r;
    pthread_t t;
};

static void *next_thread(void *ud)
{
    struct next_call *n = ud;
    http(n->s, "GET", "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &n->r, NULL);
    return NULL;
}

static void wait_status(struct server *s, bool (*pred)(const struct lbox_rapi_status *))
{
    for (int i = 0; i < 2000; i++) {
        struct lbox_rapi_status st;
        lbox_rapi_status(s->api, &st);
        if (pred(&st))
            return;
        usleep(1000);
    }
    fail_msg("the Runtime API never reached the expected state");
}

static bool init_done(const struct lbox_rapi_status *st) { return st->init_done; }
static bool invoke_done(const struct lbox_rapi_status *st) { return st->invoke_done; }

static void queue(struct server *s, const char *id, const char *event)
{
    struct lbox_rapi_invoke inv = {.request_id = id, .event = event, .event_len = strlen(event),
                                   .deadline_ms = 1700000000123, .function_arn =
                                   "arn:aws:lambda:us-east-1:123456789012:function:hello",
                                   .trace_id = "Root=1-5f000000-000000000000000000000001;Sampled=0",
                                   .client_context = "{\"custom\":{\"k\":\"v\"}}",
                                   .cognito_identity = "{\"cognitoIdentityId\":\"id1\"}"};
    struct lbox_error err = {0};
    assert_int_equal(lbox_rapi_queue(s->api, &inv, &err), 0);
}

/* Starts a runtime that is parked in /next, queues an invoke and collects it. */
static void start_invoke(struct server *s, const char *id, struct reply *got)
{
    struct next_call n = {.s = s};
    pthread_create(&n.t, NULL, next_thread, &n);
    wait_status(s, init_done);
    queue(s, id, "{\"key\":\"value\"}");
    pthread_join(n.t, NULL);
    *got = n.r;
}

static void assert_json_error(const struct reply *r, long status, const char *type,
                              const char *msg)
{
    assert_int_equal(r->status, status);
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), type);
    if (msg)
        assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), msg);
    json_decref(j);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_ping_404_405(void **state)
{
    struct server *s = *state;
    struct reply r;
    http(s, "GET", "/2018-06-01/ping", NULL, NULL, 0, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "pong");
    assert_true(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
    http(s, "GET", "/2018-06-01/runtime/nope", NULL, NULL, 0, &r, NULL);
    assert_int_equal(r.status, 404);
    post(s, "/2018-06-01/runtime/invocation/next", "", &r);
    assert_int_equal(r.status, 405);
}

/* An unknown path gets Go's http.NotFound, as from RAPID's chi router: plain text. */
static void assert_go_not_found(const struct reply *r)
{
    assert_int_equal(r->status, 404);
    assert_true(has_header(r, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    assert_true(has_header(r, "\r\nX-Content-Type-Options: nosniff\r\n"));
    assert_true(has_header(r, "\r\nContent-Length: 19\r\n"));
    assert_int_equal(r->len, 19);
    assert_memory_equal(r->body, "404 page not found\n", 19);
}

static void test_unknown_path_is_go_not_found(void **state)
{
    struct server *s = *state;
    struct reply r;
    http(s, "GET", "/2018-06-01/runtime/nope", NULL, NULL, 0, &r, NULL);
    assert_go_not_found(&r);
    post(s, "/2020-01-01/extension/nope", "{}", &r);
    assert_go_not_found(&r);
    http(s, "GET", "/nope", NULL, NULL, 0, &r, NULL);
    assert_go_not_found(&r);
    http(s, "PUT", "/2018-06-01/runtime/invocation/x/cancel", NULL, "{}", 2, &r, NULL);
    assert_go_not_found(&r);
}

/* chi's default 405: no body, no content type, Allow naming the path's method. */
static void assert_chi_405(const struct reply *r, const char *allow)
{
    assert_int_equal(r->status, 405);
    assert_int_equal(r->len, 0);
    assert_false(has_header(r, "Content-Type:"));
    assert_true(has_header(r, "\r\nContent-Length: 0\r\n"));
    if (allow) {
        char line[64];
        snprintf(line, sizeof line, "\r\nAllow: %s\r\n", allow);
        assert_true(has_header(r, line));
        assert_null(strcasestr(strcasestr(r->headers, "Allow:") + 1, "Allow:")); /* only one */
    } else {
        assert_false(has_header(r, "Allow:"));
    }
}

static void test_wrong_method_is_chi_405(void **state)
{
    struct server *s = *state;
    struct reply r;
    post(s, "/2018-06-01/runtime/invocation/next", "", &r);
    assert_chi_405(&r, "GET");
    http(s, "GET", "/2018-06-01/runtime/invocation/abc/response", NULL, NULL, 0, &r, NULL);
    assert_chi_405(&r, "POST");
    http(s, "DELETE", "/2018-06-01/runtime/invocation/abc/error", NULL, NULL, 0, &r, NULL);
    assert_chi_405(&r, "POST");
    http(s, "GET", "/2020-01-01/extension/register", NULL, NULL, 0, &r, NULL);
    assert_chi_405(&r, "POST");
    http(s, "OPTIONS", "/2018-06-01/ping", NULL, NULL, 0, &r, NULL);
    assert_chi_405(&r, "GET");
    http(s, "POST", "/2020-08-15/logs", NULL, "{}", 2, &r, NULL);
    assert_chi_405(&r, "PUT");
    /* A method chi does not know is refused before the path is looked at, without Allow. */
    http(s, "FOO", "/2018-06-01/ping", NULL, NULL, 0, &r, NULL);
    assert_chi_405(&r, NULL);
    http(s, "FOO", "/nope", NULL, NULL, 0, &r, NULL);
    assert_chi_405(&r, NULL);
}

/* RAPID's JSON replies end with a newline (Go's json.Encoder). */
static const char *const REGISTER_PLAIN =
    "{\"functionName\":\"hello\",\"functionVersion\":\"$LATEST\",\"handler\":\"index.handler\"}\n";
static const char *const REGISTER_WITH_ACCOUNT =
    "{\"accountId\":\"123456789012\",\"functionName\":\"hello\",\"functionVersion\":\"$LATEST\","
    "\"handler\":\"index.handler\"}\n";

static void register_with(struct server *s, const char *name, const char *features,
                          struct reply *r)
{
    char hn[128], hf[128];
    snprintf(hn, sizeof hn, "Lambda-Extension-Name: %s", name);
    snprintf(hf, sizeof hf, "Lambda-Extension-Accept-Feature: %s", features ? features : "");
    const char *h[] = {hn, features ? hf : NULL, NULL};
    http(s, "POST", "/2020-01-01/extension/register", h, "{}", 2, r, NULL);
    assert_int_equal(r->status, 200);
    assert_true(has_header(r, "\r\nContent-Type: application/json\r\n"));
}

/* Run with an account id configured (setup_with_account). */
static void test_register_account_id_feature(void **state)
{
    struct server *s = *state;
    struct reply r;
    register_with(s, "plain", NULL, &r);
    assert_string_equal(r.body, REGISTER_PLAIN);
    register_with(s, "asks", "accountId", &r);
    assert_string_equal(r.body, REGISTER_WITH_ACCOUNT);
    register_with(s, "listed", "somethingElse, accountId ", &r);
    assert_string_equal(r.body, REGISTER_WITH_ACCOUNT);
    register_with(s, "other", "accountIdentifier,AccountId", &r); /* exact items only */
    assert_string_equal(r.body, REGISTER_PLAIN);
}

/* No account id (NULL or ""): asking changes nothing, as RAPID leaves an empty one out. */
static void test_register_account_id_unknown(void **state)
{
    struct server *s = *state;
    struct reply r;
    register_with(s, "asks", "accountId", &r);
    assert_string_equal(r.body, REGISTER_PLAIN);
}

static void test_next_gets_event_with_headers(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"key\":\"value\"}");
    assert_true(has_header(&r, "Lambda-Runtime-Aws-Request-Id: 0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"));
    assert_true(has_header(&r, "Lambda-Runtime-Deadline-Ms: 1700000000123"));
    assert_true(has_header(&r, "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:hello"));
    assert_true(has_header(&r, "Lambda-Runtime-Trace-Id: Root=1-5f000000-000000000000000000000001;Sampled=0"));
    assert_true(has_header(&r, "Lambda-Runtime-Client-Context: {\"custom\":{\"k\":\"v\"}}"));
    assert_true(has_header(&r, "Lambda-Runtime-Cognito-Identity: {\"cognitoIdentityId\":\"id1\"}"));
    assert_true(has_header(&r, "Content-Type: application/json"));

    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    assert_false(st.invoke_done);
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         "\"hi\"", &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "{\"status\":\"OK\"}\n");
    wait_status(s, invoke_done);
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.kind, LBOX_RESULT_RESPONSE);
    assert_string_equal(res.body, "\"hi\"");
    lbox_rapi_result_free(&res);
}

static void test_event_queued_before_next_is_immediate(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         "1", &r);
    queue(s, "second-id", "{\"n\":2}");
    http(s, "GET", "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"n\":2}");
    assert_true(has_header(&r, "Lambda-Runtime-Aws-Request-Id: second-id"));
}

static void test_wrong_id_and_second_response(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    post(s, "/2018-06-01/runtime/invocation/not-the-id/response", "1", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}\n");
    char longid[200] = "/2018-06-01/runtime/invocation/";
    memset(longid + strlen(longid), 'x', 100);
    strcat(longid, "/error");
    post(s, longid, "{}", &r);
    assert_int_equal(r.status, 400);
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response", "1", &r);
    assert_int_equal(r.status, 202);
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response", "2", &r);
    assert_json_error(&r, 403, "InvalidStateTransition",
                      "State transition from RuntimeResponseSentState to InvocationResponse failed for "
                      "runtime. Error: State transition is not allowed");
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/error", "{}", &r);
    assert_json_error(&r, 403, "InvalidStateTransition", NULL);
    /* The first answer is what the invoker gets. */
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_string_equal(res.body, "1");
    lbox_rapi_result_free(&res);
}

/* A runtime whose /next connection broke asks again: it gets the same event. */
static void test_next_again_while_running(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    http(s, "GET", "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Lambda-Runtime-Aws-Request-Id: 0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"));
    assert_string_equal(r.body, "{\"key\":\"value\"}");
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response", "1", &r);
    assert_int_equal(r.status, 202);
}

/* An init error too large to keep is refused without a state change, so the runner never
 * sits in InitError with no error to give. */
static void test_oversized_init_error_changes_nothing(void **state)
{
    struct server *s = *state;
    struct reply r;
    size_t n = 6291557;
    char *big = malloc(n);
    memset(big, 'x', n);
    http(s, "POST", "/2018-06-01/runtime/init/error", NULL, big, n, &r, NULL);
    free(big);
    assert_int_equal(r.status, 413);
    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    assert_false(st.init_error);
    start_invoke(s, RID, &r);
    assert_int_equal(r.status, 200);
}

/* Opens a connection, sends a POST's headers and `body` bytes of a longer body, and leaves
 * it open (the request never ends). */
static int half_post(struct server *s, const char *path, size_t body)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char head[512];
    int n = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                     path, body + 1000);
    assert_int_equal(write(fd, head, (size_t)n), n);
    char *buf = calloc(1, body);
    for (size_t at = 0; at < body;) {
        ssize_t w = write(fd, buf + at, body - at);
        assert_true(w > 0);
        at += (size_t)w;
    }
    free(buf);
    return fd;
}

static size_t held(struct server *s)
{
    usleep(300000); /* let the server take in what was sent */
    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    return st.body_bytes_held;
}

/* A function cannot make the runner hold bodies without bound: answers naming another
 * invoke are dropped as they come, and bodies together stay within one budget. (Counted by
 * the server, not by RSS: ASan's allocator keeps freed memory.) */
static void test_bodies_held_are_bounded(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    int fds[12];
    for (int i = 0; i < 8; i++)
        fds[i] = half_post(s, "/2018-06-01/runtime/invocation/not-this-invoke/response", 5 << 20);
    assert_int_equal(held(s), 0); /* 40 MB sent, none kept */
    for (int i = 8; i < 12; i++)
        fds[i] = half_post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
                           5 << 20);
    size_t n = held(s); /* 20 MB sent for this invoke: the budget holds */
    assert_true(n > 0 && n <= (16u << 20));
    for (int i = 0; i < 12; i++)
        close(fds[i]);
    for (int i = 0; i < 100 && held(s) != 0; i++)
        ;
    assert_int_equal(held(s), 0); /* all given back when the connections end */
}

/* A buffered response whose connection closes before its body is all there is the invoke's
 * answer all the same, as in RAPID: Runtime.TruncatedResponse, and a later response is one
 * too many. */
static void test_truncated_response(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    const char *path = "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response";
    int fd = half_post(s, path, 10);
    /* The close apart from the bytes: libmicrohttpd (epoll) misses an end of stream that
     * comes in the same read as data, and then holds the connection until it stops. */
    usleep(100000);
    close(fd);
    wait_status(s, invoke_done);
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.kind, LBOX_RESULT_ERROR);
    assert_string_equal(res.error_type, "Runtime.TruncatedResponse");
    lbox_rapi_result_free(&res);
    post(s, path, "\"late\"", &r);
    assert_json_error(&r, 403, "InvalidStateTransition", NULL);
}

static void test_response_size_limit(void **state)
{
    struct server *s = *state;
    struct reply r;
    char *big = malloc(LBOX_MAX_RESPONSE_BYTES + 1);
    memset(big, 'a', LBOX_MAX_RESPONSE_BYTES + 1);
    start_invoke(s, RID, &r);
    http(s, "POST", "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         NULL, big, LBOX_MAX_RESPONSE_BYTES + 1, &r, NULL);
    assert_json_error(&r, 413, "RequestEntityTooLarge",
                      "Exceeded maximum allowed payload size (6291556 bytes).");
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.kind, LBOX_RESULT_ERROR);
    assert_string_equal(res.body, "{\"errorMessage\":\"Response payload size exceeded maximum "
                                  "allowed payload size (6291556 bytes).\",\"errorType\":"
                                  "\"Function.ResponseSizeTooLarge\"}");
    lbox_rapi_result_free(&res);
    free(big);
}

static void test_exact_limit_accepted(void **state)
{
    struct server *s = *state;
    struct reply r;
    char *big = malloc(LBOX_MAX_RESPONSE_BYTES);
    memset(big, 'b', LBOX_MAX_RESPONSE_BYTES);
    start_invoke(s, RID, &r);
    http(s, "POST", "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         NULL, big, LBOX_MAX_RESPONSE_BYTES, &r, NULL);
    assert_int_equal(r.status, 202);
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.len, LBOX_MAX_RESPONSE_BYTES);
    lbox_rapi_result_free(&res);
    free(big);
}

static void test_error_post(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    const char *h[] = {"Content-Type: application/vnd.aws.lambda.error.cause+json",
                       "Lambda-Runtime-Function-Error-Type: Runtime.Custom", NULL};
    const char *body = "{\"errorMessage\":\"boom\",\"errorType\":\"Error\",\"errorCause\":{\"x\":1}}";
    http(s, "POST", "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/error",
         h, body, strlen(body), &r, NULL);
    assert_int_equal(r.status, 202);
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.kind, LBOX_RESULT_ERROR);
    assert_string_equal(res.error_type, "Runtime.Custom");
    assert_string_equal(res.body, "{\"errorMessage\":\"boom\",\"errorType\":\"Error\"}");
    lbox_rapi_result_free(&res);
}

/* The "error cause" flavour is rebuilt as RAPID rebuilds it: only errorMessage, errorType
 * and a non-empty stackTrace of strings go on; a body that does not decode into them is
 * RAPID's "Invalid error body". One invoke per body, through one runtime. */
static void test_error_cause_bodies_reshaped(void **state)
{
    static const struct {
        const char *body, *want, *ctype;
    } cases[] = {
        {"{\"errorType\":\"T\",\"errorMessage\":\"m\",\"trace\":[\"a\"],\"extra\":1,\"errorCause\":{\"x\":1}}",
         "{\"errorMessage\":\"m\",\"errorType\":\"T\"}", "application/json"},
        {"{\"errorMessage\":\"m\",\"errorType\":\"T\",\"stackTrace\":[],\"errorCause\":{}}",
         "{\"errorMessage\":\"m\",\"errorType\":\"T\"}", "application/json"},
        {"{\"stackTrace\":[\"at a\",\"at b\"],\"errorType\":\"T\",\"errorMessage\":\"m\"}",
         "{\"errorMessage\":\"m\",\"errorType\":\"T\",\"stackTrace\":[\"at a\",\"at b\"]}",
         "application/json"},
        {"null", "{\"errorMessage\":\"\",\"errorType\":\"\"}", "application/json"},
        {"{\"errorMessage\":null}", "{\"errorMessage\":\"\",\"errorType\":\"\"}", "application/json"},
        {"{\"errorMessage\":\"m\",\"stackTrace\":[1,2]}", "\"Invalid error body\"",
         "application/octet-stream"},
        {"{\"errorMessage\":5}", "\"Invalid error body\"", "application/octet-stream"},
        {"[1]", "\"Invalid error body\"", "application/octet-stream"},
        {"notjson", "\"Invalid error body\"", "application/octet-stream"},
        {"", "\"Invalid error body\"", "application/octet-stream"},
    };
    struct server *s = *state;
    const char *h[] = {"Content-Type: application/vnd.aws.lambda.error.cause+json", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[64], path[160];
        snprintf(id, sizeof id, "0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c%02zu", i);
        snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/error", id);
        struct reply r;
        start_invoke(s, id, &r);
        http(s, "POST", path, h, cases[i].body, strlen(cases[i].body), &r, NULL);
        assert_int_equal(r.status, 202);
        struct lbox_rapi_result res;
        assert_true(lbox_rapi_take_result(s->api, &res));
        assert_string_equal(res.body, cases[i].want);
        assert_string_equal(res.content_type, cases[i].ctype);
        lbox_rapi_result_free(&res);
    }
}

static void test_init_error(void **state)
{
    struct server *s = *state;
    struct reply r;
    const char *h[] = {"Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError", NULL};
    const char *body = "{\"errorType\":\"Runtime.ImportModuleError\",\"errorMessage\":\"no\"}";
    http(s, "POST", "/2018-06-01/runtime/init/error", h, body, strlen(body), &r, NULL);
    assert_int_equal(r.status, 202);
    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    assert_true(st.init_error);
    post(s, "/2018-06-01/runtime/init/error", "{}", &r);
    assert_json_error(&r, 403, "InvalidStateTransition", NULL);
    http(s, "GET", "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, &r, NULL);
    assert_json_error(&r, 403, "InvalidStateTransition", NULL);
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_init_error(s->api, &res));
    assert_string_equal(res.body, body);
    assert_string_equal(res.error_type, "Runtime.ImportModuleError");
    assert_string_equal(res.content_type, "application/json");
    lbox_rapi_result_free(&res);
}

static void test_streaming_passes_through(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    const char *h[] = {"Lambda-Runtime-Function-Response-Mode: streaming",
                       "Content-Type: application/octet-stream", NULL};
    struct upload u = {.data = "hello streaming world", .len = 21};
    http(s, "POST", "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         h, NULL, 0, &r, &u);
    assert_int_equal(r.status, 202);
    assert_string_equal(s->streamed, "hello streaming world");
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.kind, LBOX_RESULT_RESPONSE);
    assert_true(res.streamed);
    lbox_rapi_result_free(&res);
}

static void test_streaming_error_trailer(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    const char *h[] = {"Lambda-Runtime-Function-Response-Mode: streaming",
                       "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
                       NULL};
    /* base64 of {"errorType":"Error","errorMessage":"mid"} */
    struct upload u = {.data = "partial", .len = 7, .trailer_type = "Error",
                       .trailer_body = "eyJlcnJvclR5cGUiOiJFcnJvciIsImVycm9yTWVzc2FnZSI6Im1pZCJ9"};
    http(s, "POST", "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         h, NULL, 0, &r, &u);
    assert_int_equal(r.status, 202);
    assert_string_equal(s->streamed, "partial");
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_int_equal(res.kind, LBOX_RESULT_ERROR);
    assert_string_equal(res.error_type, "Error");
    assert_string_equal(res.body, "{\"errorType\":\"Error\",\"errorMessage\":\"mid\"}");
    lbox_rapi_result_free(&res);
}

static void test_bad_response_mode(void **state)
{
    struct server *s = *state;
    struct reply r;
    start_invoke(s, RID, &r);
    const char *h[] = {"Lambda-Runtime-Function-Response-Mode: buffered-please", NULL};
    http(s, "POST", "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response",
         h, "x", 1, &r, NULL);
    assert_json_error(&r, 400, "InvalidFunctionResponseMode", "Invalid function response mode");
    struct lbox_rapi_result res;
    assert_true(lbox_rapi_take_result(s->api, &res));
    assert_string_equal(res.error_type, "Runtime.InvalidResponseModeHeader");
    lbox_rapi_result_free(&res);
}

static void test_logs_and_telemetry_not_supported(void **state)
{
    struct server *s = *state;
    struct reply r;
    http(s, "PUT", "/2020-08-15/logs", NULL, "{}", 2, &r, NULL);
    assert_json_error(&r, 202, "Logs.NotSupported", "Logs API is not supported");
    http(s, "PUT", "/2022-07-01/telemetry", NULL, "{}", 2, &r, NULL);
    assert_json_error(&r, 202, "Telemetry.NotSupported", "Telemetry API is not supported");
}

struct ext_next_call {
    struct server *s;
    char id_header[128];
    struct reply r;
    pthread_t t;
};

static void *ext_next_thread(void *ud)
{
    struct ext_next_call *n = ud;
    const char *h[] = {n->id_header, NULL};
    http(n->s, "GET", "/2020-01-01/extension/event/next", h, NULL, 0, &n->r, NULL);
    return NULL;
}

static void test_extensions(void **state)
{
    struct server *s = *state;
    struct reply r;
    const char *external[] = {"my-ext"};
    lbox_rapi_set_external_extensions(s->api, external, 1);
    http(s, "POST", "/2020-01-01/extension/register", NULL, "{\"events\":[\"INVOKE\"]}", 21, &r,
         NULL);
    assert_json_error(&r, 403, "Extension.InvalidExtensionName", "Empty extension name");
    /* Names that could not be kept or shown as they are: a tab that would forge the
     * EXTENSION line's fields, 64 bytes (two such names would be cut to one), not UTF-8. */
    char long_name[128];
    snprintf(long_name, sizeof long_name, "Lambda-Extension-Name: %064d", 7);
    const char *bad_names[][2] = {{"Lambda-Extension-Name: a\tState: Ready", NULL},
                                  {long_name, NULL},
                                  {"Lambda-Extension-Name: caf\xe9", NULL}};
    for (size_t i = 0; i < 3; i++) {
        http(s, "POST", "/2020-01-01/extension/register", bad_names[i],
             "{\"events\":[\"INVOKE\"]}", 21, &r, NULL);
        assert_json_error(&r, 403, "Extension.InvalidExtensionName",
                          "Extension name must be at most 63 bytes of UTF-8 without control "
                          "characters");
    }
    const char *hn[] = {"Lambda-Extension-Name: my-ext", NULL};
    const char *body = "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}";
    http(s, "POST", "/2020-01-01/extension/register", hn, body, strlen(body), &r, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"functionName\":\"hello\",\"functionVersion\":\"$LATEST\","
                                "\"handler\":\"index.handler\"}\n");
    char *idh = strcasestr(r.headers, "Lambda-Extension-Identifier: ");
    assert_non_null(idh);
    char id[64] = {0};
    sscanf(idh + strlen("Lambda-Extension-Identifier: "), "%36s", id);

    http(s, "GET", "/2020-01-01/extension/event/next", NULL, NULL, 0, &r, NULL);
    assert_json_error(&r, 403, "Extension.MissingExtensionIdentifier",
                      "Missing Lambda-Extension-Identifier header");
    const char *bad[] = {"Lambda-Extension-Identifier: nope", NULL};
    http(s, "GET", "/2020-01-01/extension/event/next", bad, NULL, 0, &r, NULL);
    assert_json_error(&r, 403, "Extension.InvalidExtensionIdentifier",
                      "Invalid Lambda-Extension-Identifier");

    /* Init ends only when the runtime and the extension both wait. */
    struct next_call rt = {.s = s};
    pthread_create(&rt.t, NULL, next_thread, &rt);
    usleep(50000);
    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    assert_false(st.init_done);
    struct ext_next_call ex = {.s = s};
    snprintf(ex.id_header, sizeof ex.id_header, "Lambda-Extension-Identifier: %s", id);
    pthread_create(&ex.t, NULL, ext_next_thread, &ex);
    wait_status(s, init_done);
    queue(s, RID, "{}");
    pthread_join(rt.t, NULL);
    pthread_join(ex.t, NULL);
    json_t *ev = json_loads(ex.r.body, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "eventType")), "INVOKE");
    assert_string_equal(json_string_value(json_object_get(ev, "requestId")), RID);
    assert_int_equal(json_integer_value(json_object_get(ev, "deadlineMs")), 1700000000123);
    json_decref(ev);
    assert_true(has_header(&ex.r, "Lambda-Extension-Event-Identifier: "));

    /* The runtime answered, but the invoke lasts until the extension is back. */
    post(s, "/2018-06-01/runtime/invocation/0b7a7c4e-1d2f-4a3b-9c8d-7e6f5a4b3c2d/response", "1", &r);
    usleep(20000);
    lbox_rapi_status(s->api, &st);
    assert_false(st.invoke_done);
    struct ext_next_call ex2 = {.s = s};
    strcpy(ex2.id_header, ex.id_header);
    pthread_create(&ex2.t, NULL, ext_next_thread, &ex2);
    wait_status(s, invoke_done);
    lbox_rapi_shutdown(s->api, "spindown", 1700000002000);
    pthread_join(ex2.t, NULL);
    ev = json_loads(ex2.r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(ev, "eventType")), "SHUTDOWN");
    assert_false(has_header(&ex2.r, "Lambda-Extension-Event-Identifier"));
    assert_string_equal(json_string_value(json_object_get(ev, "shutdownReason")), "spindown");
    json_decref(ev);

    /* Registering after init is refused: again, or under a new name. */
    http(s, "POST", "/2020-01-01/extension/register", hn, body, strlen(body), &r, NULL);
    assert_json_error(&r, 403, "Extension.InvalidExtensionState",
                      "State transition from Running to Registered failed for extension my-ext. "
                      "Error: State transition is not allowed");
    const char *late[] = {"Lambda-Extension-Name: late", NULL};
    http(s, "POST", "/2020-01-01/extension/register", late, "{}", 2, &r, NULL);
    assert_json_error(&r, 403, "Extension.RegistrationClosed",
                      "Extension registration closed already");
}

static char *register_ext(struct server *s, const char *name, const char *body, struct reply *r)
{
    char h[128];
    snprintf(h, sizeof h, "Lambda-Extension-Name: %s", name);
    const char *hs[] = {h, NULL};
    http(s, "POST", "/2020-01-01/extension/register", hs, body, strlen(body), r, NULL);
    char *idh = strcasestr(r->headers, "Lambda-Extension-Identifier: ");
    static char id[64];
    id[0] = 0;
    if (idh)
        sscanf(idh + strlen("Lambda-Extension-Identifier: "), "%36s", id);
    return id;
}

/* Registration and identifier checks as RAPID makes them (types and messages). */
static void test_extension_requests_checked_like_rapid(void **state)
{
    struct server *s = *state;
    struct reply r;
    const char *external[] = {"ext-a"};
    lbox_rapi_set_external_extensions(s->api, external, 1);

    register_ext(s, "inner", "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}", &r);
    assert_json_error(&r, 403, "Extension.InvalidEventType",
                      "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension");
    register_ext(s, "inner", "{\"events\":[\"FOO\"]}", &r);
    assert_json_error(&r, 403, "Extension.InvalidEventType", "FOO: ErrorInvalidEventType");
    /* What is echoed back is escaped as Go's encoder escapes it: <, > and &, and U+2028
     * and U+2029, which jansson would leave as they are. */
    register_ext(s, "inner", "{\"events\":[\"<a&b>\xe2\x80\xa8\"]}", &r);
    assert_string_equal(r.body, "{\"errorMessage\":\"\\u003ca\\u0026b\\u003e\\u2028: "
                                "ErrorInvalidEventType\",\"errorType\":"
                                "\"Extension.InvalidEventType\"}\n");
    register_ext(s, "ext-a", "{\"events\":[],\"configurationKeys\":[\"k\"]}", &r);
    assert_json_error(&r, 403, "InvalidRequestFormat",
                      "configurationKeys are deprecated; use environment variables instead");
    register_ext(s, "inner", "not json", &r);
    assert_json_error(&r, 403, "InvalidRequestFormat", NULL);
    register_ext(s, "inner", "{}", &r); /* no events at all is fine */
    assert_int_equal(r.status, 200);
    register_ext(s, "inner", "{}", &r);
    assert_json_error(&r, 403, "Extension.InvalidExtensionState",
                      "Extension with this name already registered");
    char id[64];
    snprintf(id, sizeof id, "%s", register_ext(s, "ext-a", "{\"events\":[\"SHUTDOWN\"]}", &r));
    assert_int_equal(r.status, 200);

    const char *unknown[] = {"Lambda-Extension-Identifier: 11111111-2222-4333-8444-555555555555",
                             "Lambda-Extension-Function-Error-Type: Extension.Boom", NULL};
    http(s, "GET", "/2020-01-01/extension/event/next", unknown, NULL, 0, &r, NULL);
    assert_json_error(&r, 403, "Extension.UnknownExtensionIdentifier",
                      "Unknown extension 11111111-2222-4333-8444-555555555555");
    http(s, "POST", "/2020-01-01/extension/exit/error", unknown, "{}", 2, &r, NULL);
    assert_json_error(&r, 403, "Extension.UnknownExtensionIdentifier",
                      "Unknown Lambda-Extension-Identifier");
    char idh[128];
    snprintf(idh, sizeof idh, "Lambda-Extension-Identifier: %s", id);
    const char *no_type[] = {idh, NULL};
    http(s, "POST", "/2020-01-01/extension/init/error", no_type, "{}", 2, &r, NULL);
    assert_json_error(&r, 403, "Extension.MissingHeader",
                      "Lambda-Extension-Function-Error-Type not found");

    /* A second event/next while the first waits is refused; the first stays held (and the
     * server still stops cleanly with it: an overwritten one made libmicrohttpd abort). */
    struct ext_next_call ex = {.s = s};
    snprintf(ex.id_header, sizeof ex.id_header, "%s", idh);
    pthread_create(&ex.t, NULL, ext_next_thread, &ex);
    for (int i = 0; i < 200; i++) {
        struct lbox_rapi_status st;
        lbox_rapi_status(s->api, &st);
        if (st.extensions_idle)
            break;
        usleep(5000);
    }
    usleep(20000);
    http(s, "GET", "/2020-01-01/extension/event/next", no_type, NULL, 0, &r, NULL);
    char msg[200];
    snprintf(msg, sizeof msg, "State transition from Ready to Ready failed for extension %s. "
             "Error: State transition is not allowed", id);
    assert_json_error(&r, 403, "Extension.InvalidExtensionState", msg);
    lbox_rapi_stop(s->api);
    s->api = NULL;
    pthread_join(ex.t, NULL);
    assert_int_equal(ex.r.status, 500);
}

static void test_oversized_event_refused(void **state)
{
    struct server *s = *state;
    char *big = calloc(1, LBOX_MAX_EVENT_BYTES + 1);
    struct lbox_rapi_invoke inv = {.request_id = RID, .event = big,
                                   .event_len = LBOX_MAX_EVENT_BYTES + 1};
    struct lbox_error err = {0};
    assert_int_equal(lbox_rapi_queue(s->api, &inv, &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "Request must be smaller than 6291456 bytes"));
    free(big);
}

static void test_reset_ends_parked_next(void **state)
{
    struct server *s = *state;
    struct next_call n = {.s = s};
    pthread_create(&n.t, NULL, next_thread, &n);
    wait_status(s, init_done);
    lbox_rapi_reset(s->api);
    pthread_join(n.t, NULL);
    assert_int_equal(n.r.status, 500);
    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    assert_false(st.init_done);
}

/* What an extension's exit is called follows the error it posted, as RAPID names it. */
static void test_extension_exit_types(void **state)
{
    struct server *s = *state;
    const char *external[] = {"plain", "init-err", "exit-err"};
    lbox_rapi_set_external_extensions(s->api, external, 3);
    char ids[3][64] = {{0}};
    for (int i = 0; i < 3; i++) {
        struct reply r;
        register_with(s, external[i], NULL, &r);
        char *idh = strcasestr(r.headers, "Lambda-Extension-Identifier: ");
        assert_non_null(idh);
        sscanf(idh + strlen("Lambda-Extension-Identifier: "), "%36s", ids[i]);
    }
    const char *paths[] = {NULL, "/2020-01-01/extension/init/error",
                           "/2020-01-01/extension/exit/error"};
    for (int i = 1; i < 3; i++) {
        char hid[128];
        snprintf(hid, sizeof hid, "Lambda-Extension-Identifier: %s", ids[i]);
        const char *h[] = {hid, "Lambda-Extension-Function-Error-Type: Extension.Probe", NULL};
        struct reply r;
        http(s, "POST", paths[i], h, "{}", 2, &r, NULL);
        assert_int_equal(r.status, 202);
    }
    /* Posting an error ends nothing by itself: the init fails when the extension exits. */
    struct lbox_rapi_status st;
    lbox_rapi_status(s->api, &st);
    assert_false(st.init_error);
    assert_false(st.init_done);
    assert_string_equal(lbox_rapi_extension_exit_type(s->api, "plain"), "Extension.Crash");
    assert_string_equal(lbox_rapi_extension_exit_type(s->api, "init-err"), "Extension.InitError");
    assert_string_equal(lbox_rapi_extension_exit_type(s->api, "exit-err"), "Extension.ExitError");
    assert_string_equal(lbox_rapi_extension_exit_type(s->api, "never-registered"),
                        "Extension.Crash");
    /* A reset (a new runtime) forgets them. */
    lbox_rapi_reset(s->api);
    assert_string_equal(lbox_rapi_extension_exit_type(s->api, "exit-err"), "Extension.Crash");
}

/* Registers the extension `name` with the registration body `body` (its events). */
static void register_for(struct server *s, const char *name, const char *body)
{
    char hn[128];
    snprintf(hn, sizeof hn, "Lambda-Extension-Name: %s", name);
    const char *h[] = {hn, NULL};
    struct reply r;
    http(s, "POST", "/2020-01-01/extension/register", h, body, strlen(body), &r, NULL);
    assert_int_equal(r.status, 200);
}

/* Which extensions a shutdown waits for: those subscribed to SHUTDOWN (RAPID kills the
 * others at once). */
static void test_extension_shutdown_subscription(void **state)
{
    struct server *s = *state;
    const char *external[] = {"both", "invoke-only"};
    const char *bodies[] = {"{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}", "{\"events\":[\"INVOKE\"]}"};
    lbox_rapi_set_external_extensions(s->api, external, 2);
    for (int i = 0; i < 2; i++)
        register_for(s, external[i], bodies[i]);
    assert_true(lbox_rapi_extension_wants_shutdown(s->api, "both"));
    assert_false(lbox_rapi_extension_wants_shutdown(s->api, "invoke-only"));
    assert_false(lbox_rapi_extension_wants_shutdown(s->api, "never-registered"));
}

/* Lambda's EXTENSION lines: external extensions in start order (one never registered is
 * "Started", one that could not start "LaunchError" and ends the list), then internal ones. */
static void test_extension_log_lines(void **state)
{
    struct server *s = *state;
    assert_null(lbox_rapi_extension_lines(s->api, NULL));
    const char *external[] = {"a", "b", "c"};
    lbox_rapi_set_external_extensions(s->api, external, 3);
    const char *names[] = {"a", "internal-x"};
    const char *bodies[] = {"{\"events\":[\"SHUTDOWN\",\"INVOKE\"]}", "{\"events\":[\"INVOKE\"]}"};
    for (int i = 0; i < 2; i++)
        register_for(s, names[i], bodies[i]);
    char *lines = lbox_rapi_extension_lines(s->api, NULL);
    assert_string_equal(lines, "EXTENSION\tName: a\tState: Registered\tEvents: [INVOKE, SHUTDOWN]\n"
                               "EXTENSION\tName: b\tState: Started\tEvents: []\n"
                               "EXTENSION\tName: c\tState: Started\tEvents: []\n"
                               "EXTENSION\tName: internal-x\tState: Registered\tEvents: [INVOKE]\n");
    free(lines);
    lines = lbox_rapi_extension_lines(s->api, "b");
    assert_string_equal(lines, "EXTENSION\tName: a\tState: Registered\tEvents: [INVOKE, SHUTDOWN]\n"
                               "EXTENSION\tName: b\tState: LaunchError\tEvents: []\n"
                               "EXTENSION\tName: internal-x\tState: Registered\tEvents: [INVOKE]\n");
    free(lines);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ping_404_405),
        T(test_unknown_path_is_go_not_found),
        T(test_wrong_method_is_chi_405),
        cmocka_unit_test_setup_teardown(test_register_account_id_feature, setup_with_account,
                                        teardown),
        T(test_register_account_id_unknown),
        {"test_register_account_id_empty", test_register_account_id_unknown,
         setup_with_empty_account, teardown, NULL},
        T(test_next_gets_event_with_headers),
        T(test_event_queued_before_next_is_immediate),
        T(test_wrong_id_and_second_response),
        T(test_response_size_limit),
        T(test_exact_limit_accepted),
        T(test_error_post),
        T(test_init_error),
        T(test_streaming_passes_through),
        T(test_streaming_error_trailer),
        T(test_bad_response_mode),
        T(test_logs_and_telemetry_not_supported),
        T(test_extensions),
        T(test_extension_exit_types),
        T(test_extension_shutdown_subscription),
        T(test_extension_log_lines),
        T(test_extension_requests_checked_like_rapid),
        T(test_next_again_while_running),
        T(test_oversized_init_error_changes_nothing),
        T(test_error_cause_bodies_reshaped),
        T(test_truncated_response),
        T(test_bodies_held_are_bounded),
        T(test_oversized_event_refused),
        T(test_reset_ends_parked_next),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
