/* The Runtime API (2018-06-01) each environment's runtime talks to: routing, the runtime's
 * endpoints and their state machine (state.c), libmicrohttpd's callbacks, and the runner's
 * side (queue an invoke, take its answer, reset, stop). The Extensions API is in
 * rapi_extensions.c, the shared replies in rapi_reply.c. */
#include "runtime_api.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "rapi_internal.h"

const struct lbox_mhd_api *_Atomic rapi_mhd;

/* ---- small helpers ---------------------------------------------------------------------- */

void lbox_rapi_result_free(struct lbox_rapi_result *res)
{
    free(res->body);
    free(res->content_type);
    free(res->error_type);
    memset(res, 0, sizeof *res);
}

static char *xstrdup_or_null(const char *s)
{
    return s ? lbox_xstrdup(s) : NULL;
}

static enum MHD_Result reply_bad_id(struct MHD_Connection *c)
{
    return rapi_reply_error(c, MHD_HTTP_BAD_REQUEST, "InvalidRequestID", "Invalid request ID");
}

static enum MHD_Result reply_bad_state(struct MHD_Connection *c, enum lbox_rt_phase from,
                                       const char *to)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "State transition from %s to %s failed for runtime. Error: State transition is "
             "not allowed",
             lbox_rs_phase_name(from), to);
    return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "InvalidStateTransition", msg);
}

static enum MHD_Result reply_too_large(struct MHD_Connection *c)
{
    return rapi_reply_error(c, 413, "RequestEntityTooLarge",
                            "Exceeded maximum allowed payload size (6291556 bytes).");
}

/* An unknown path: RAPID's chi router answers with Go's http.NotFound, plain text. */
static enum MHD_Result reply_not_found(struct MHD_Connection *c)
{
    static const char body[] = "404 page not found\n";
    return rapi_reply_with(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", body,
                           sizeof body - 1, "X-Content-Type-Options", "nosniff");
}

/* A known path with another method: chi's default 405 has an empty body and no content
 * type, and lists the path's method in Allow (none when chi does not know the method). */
static enum MHD_Result reply_bad_method(struct MHD_Connection *c, const char *allow)
{
    return rapi_reply_with(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, "", 0, MHD_HTTP_HEADER_ALLOW,
                           allow);
}

/* A platform-made error result (the runtime did not write this body). */
static void set_platform_error(struct lbox_rapi_result *res, const char *type, const char *msg)
{
    lbox_rapi_result_free(res);
    json_t *j = json_pack("{s:s,s:s}", "errorMessage", msg, "errorType", type);
    res->body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    res->len = strlen(res->body);
    res->kind = LBOX_RESULT_ERROR;
    res->content_type = lbox_xstrdup("application/json");
    res->error_type = lbox_xstrdup(type);
}

/* Decodes standard base64 (the streaming error trailer); returns the length or -1. */
static ssize_t base64_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 != 0 || len > INT32_MAX)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    for (size_t i = len; i > 0 && in[i - 1] == '='; i--)
        n--;
    return n;
}

/* ---- routing ------------------------------------------------------------------------------ */

static void copy_id(struct request *rq, const char *start, size_t n)
{
    if (n >= sizeof rq->id) {
        rq->id_too_long = true;
        n = 0;
    }
    memcpy(rq->id, start, n);
    rq->id[n] = 0;
}

/* The methods chi routes at all; any other is refused before the path is looked at. */
static bool chi_method(const char *m)
{
    static const char *const known[] = {"CONNECT", "DELETE", "GET",  "HEAD", "OPTIONS",
                                        "PATCH",   "POST",   "PUT",  "TRACE"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(m, known[i]))
            return true;
    return false;
}

/* A known path: its route for its one method, else 405 naming that method in Allow. */
static enum route only(struct request *rq, const char *method, const char *allowed, enum route r)
{
    if (!strcmp(method, allowed))
        return r;
    rq->allow = allowed;
    return R_BAD_METHOD;
}

/* Paths and methods as RAPID's chi routers match them (each path has exactly one method). */
static enum route route_of(const char *url, const char *method, struct request *rq)
{
    if (!chi_method(method))
        return R_BAD_METHOD;
    if (!strcmp(url, "/2018-06-01/ping"))
        return only(rq, method, "GET", R_PING);
    if (!strcmp(url, "/2020-08-15/logs"))
        return only(rq, method, "PUT", R_LOGS);
    if (!strcmp(url, "/2022-07-01/telemetry"))
        return only(rq, method, "PUT", R_TELEMETRY);
    if (!strncmp(url, RUNTIME_PREFIX, strlen(RUNTIME_PREFIX))) {
        const char *p = url + strlen(RUNTIME_PREFIX);
        if (!strcmp(p, "invocation/next"))
            return only(rq, method, "GET", R_NEXT);
        if (!strcmp(p, "init/error"))
            return only(rq, method, "POST", R_INIT_ERROR);
        if (!strncmp(p, "invocation/", 11)) {
            const char *id = p + 11, *slash = strchr(id, '/');
            if (!slash || slash == id)
                return R_NOT_FOUND;
            enum route r;
            if (!strcmp(slash, "/response"))
                r = R_RESPONSE;
            else if (!strcmp(slash, "/error"))
                r = R_ERROR;
            else
                return R_NOT_FOUND;
            copy_id(rq, id, (size_t)(slash - id));
            return only(rq, method, "POST", r);
        }
        return R_NOT_FOUND;
    }
    if (!strncmp(url, EXTENSION_PREFIX, strlen(EXTENSION_PREFIX))) {
        const char *p = url + strlen(EXTENSION_PREFIX);
        if (!strcmp(p, "register"))
            return only(rq, method, "POST", R_EXT_REGISTER);
        if (!strcmp(p, "event/next"))
            return only(rq, method, "GET", R_EXT_NEXT);
        if (!strcmp(p, "init/error"))
            return only(rq, method, "POST", R_EXT_INIT_ERROR);
        if (!strcmp(p, "exit/error"))
            return only(rq, method, "POST", R_EXT_EXIT_ERROR);
    }
    return R_NOT_FOUND;
}

/* ---- runtime endpoints -------------------------------------------------------------------- */

/* Called with the lock held, the runtime now RUNNING with the queued event. */
static enum MHD_Result deliver_event(struct lbox_rapi *api, struct MHD_Connection *c)
{
    struct MHD_Response *r =
        rapi_mhd->create_response_from_buffer(api->event_len, api->event, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    rapi_mhd->add_response_header(r, "Lambda-Runtime-Aws-Request-Id", api->st.request_id);
    rapi_mhd->add_response_header(r, "Lambda-Runtime-Deadline-Ms", api->deadline);
    rapi_mhd->add_response_header(r, "Lambda-Runtime-Invoked-Function-Arn", api->arn);
    if (api->trace_id && *api->trace_id)
        rapi_mhd->add_response_header(r, "Lambda-Runtime-Trace-Id", api->trace_id);
    if (api->client_context && *api->client_context)
        rapi_mhd->add_response_header(r, "Lambda-Runtime-Client-Context", api->client_context);
    if (api->cognito_identity && *api->cognito_identity)
        rapi_mhd->add_response_header(r, "Lambda-Runtime-Cognito-Identity", api->cognito_identity);
    rapi_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                  api->content_type ? api->content_type : "application/json");
    enum MHD_Result ret = rapi_mhd->queue_response(c, MHD_HTTP_OK, r);
    rapi_mhd->destroy_response(r);
    return ret;
}

enum MHD_Result rapi_park(struct lbox_rapi *api, struct MHD_Connection *c, struct request *rq,
                          struct MHD_Connection **slot)
{
    if (api->stopping) /* nothing will come: stop may not find it suspended (see there) */
        return rapi_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalServerError",
                                "Internal Server Error");
    if (*slot && *slot != c) /* never lose a held request: MHD cannot stop with one */
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "InvalidStateTransition",
                                "Another request of this process is already waiting for an event");
    if (!rq->parked)
        api->parked_open++;
    rq->parked = true;
    rq->suspended = true;
    api->suspended++;
    rq->generation = api->generation;
    *slot = c;
    rapi_mhd->suspend_connection(c);
    return MHD_YES;
}

static enum MHD_Result handle_next(struct lbox_rapi *api, struct MHD_Connection *c,
                                   struct request *rq)
{
    enum lbox_rs_verdict v;
    if (rq->parked) {
        /* Resumed: by an invoke, by a reset (the runtime that asked is gone) or by stop. */
        if (api->stopping || rq->generation != api->generation)
            return rapi_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalServerError",
                                    "Internal Server Error");
        v = lbox_rs_take(&api->st);
    } else {
        enum lbox_rt_phase from = api->st.phase;
        v = lbox_rs_next(&api->st);
        if (v == LBOX_RS_BAD_STATE)
            return reply_bad_state(c, from, "Ready");
        rapi_wake(api); /* init may be complete now, or the previous invoke */
    }
    if (v == LBOX_RS_DELIVER)
        return deliver_event(api, c);
    return rapi_park(api, c, rq, &api->runtime_parked);
}

/* A JSON string member of an error body: absent or null counts as "" (RAPID's Go decoding
 * leaves such a field at its zero value); any other type makes the body invalid. */
static bool error_string(json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = json_is_string(v) ? json_string_value(v) : "";
    return !v || json_is_null(v) || json_is_string(v);
}

/* An error body in the "error cause" flavour is rebuilt as RAPID rebuilds it: errorMessage,
 * errorType and, when non-empty, stackTrace (an array of strings), as application/json;
 * everything else, the X-Ray errorCause among it, is dropped. A body that does not decode
 * into those fields becomes RAPID's "Invalid error body" (a JSON string). */
static void reshape_error_cause(struct lbox_rapi_result *res)
{
    json_t *in = json_loadb(res->body, res->len, JSON_DECODE_ANY, NULL);
    json_t *out = NULL;
    const char *message = "", *type = ""; /* a null body keeps these */
    json_t *trace = json_is_object(in) ? json_object_get(in, "stackTrace") : NULL;
    bool valid = json_is_null(in) ||
                 (json_is_object(in) && error_string(in, "errorMessage", &message) &&
                  error_string(in, "errorType", &type) &&
                  (!trace || json_is_null(trace) || json_is_array(trace)));
    for (size_t i = 0; valid && json_is_array(trace) && i < json_array_size(trace); i++)
        valid = json_is_string(json_array_get(trace, i));
    if (valid) {
        out = json_pack("{s:s,s:s}", "errorMessage", message, "errorType", type);
        if (json_array_size(trace) > 0)
            json_object_set(out, "stackTrace", trace);
    }
    char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(in);
    json_decref(out);
    free(res->body);
    free(res->content_type);
    res->body = s ? s : lbox_xstrdup("\"Invalid error body\"");
    res->len = strlen(res->body);
    res->content_type = lbox_xstrdup(s ? "application/json" : "application/octet-stream");
}

static void take_body(struct lbox_rapi *api, struct request *rq, struct lbox_rapi_result *res)
{
    res->body = rq->body ? rq->body : lbox_xstrdup("");
    res->len = rq->len;
    api->buffered -= rq->cap; /* the result is the runner's now (one at a time) */
    rq->body = NULL;
    rq->len = rq->cap = 0;
}

static enum MHD_Result handle_answer(struct lbox_rapi *api, struct MHD_Connection *c,
                                     struct request *rq)
{
    enum lbox_rt_phase from = api->st.phase;
    const char *to = rq->route == R_ERROR ? "InvocationErrorResponse" : "InvocationResponse";
    enum lbox_rs_verdict v;

    if (rq->streaming) {
        v = rq->stream_verdict;
        if (v == LBOX_RS_OK)
            lbox_rs_stream_end(&api->st);
    } else {
        v = rq->id_too_long ? LBOX_RS_BAD_ID
            : rq->route == R_ERROR ? lbox_rs_error(&api->st, rq->id)
                                   : lbox_rs_response(&api->st, rq->id);
    }
    if (v == LBOX_RS_BAD_ID)
        return reply_bad_id(c);
    if (v == LBOX_RS_BAD_STATE)
        return reply_bad_state(c, from, to);

    struct lbox_rapi_result *res = &api->result;
    lbox_rapi_result_free(res);
    rapi_wake(api);
    res->answer_at = rq->arrived_at;
    res->answer_ns = rq->arrived_ns;
    res->answer_ms = (double)(lbox_mono_ns() - rq->arrived_ns) / 1e6;
    res->produced = rq->streaming ? rq->streamed : rq->len;

    if (rq->bad_mode) {
        set_platform_error(res, "Runtime.InvalidResponseModeHeader",
                           "Invalid Lambda-Runtime-Function-Response-Mode header");
        return rapi_reply_error(c, MHD_HTTP_BAD_REQUEST, "InvalidFunctionResponseMode",
                                "Invalid function response mode");
    }
    if (rq->too_large) {
        set_platform_error(res, "Function.ResponseSizeTooLarge",
                           rq->streaming ? "Response payload size exceeded maximum allowed "
                                           "payload size (20971520 bytes)."
                                         : "Response payload size exceeded maximum allowed "
                                           "payload size (6291556 bytes).");
        res->streamed = rq->streaming && api->cfg.stream; /* bytes up to the limit went out */
        return reply_too_large(c);
    }
    const char *ctype = rapi_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    res->content_type = xstrdup_or_null(ctype);
    if (rq->streaming) {
        res->streamed = api->cfg.stream != NULL;
        /* Errors after the stream began come in trailers: a type and a base64 JSON body. */
        const char *etype = rapi_mhd->lookup_connection_value(c, MHD_FOOTER_KIND,
                                                              "Lambda-Runtime-Function-Error-Type");
        const char *ebody = rapi_mhd->lookup_connection_value(c, MHD_FOOTER_KIND,
                                                              "Lambda-Runtime-Function-Error-Body");
        if (etype || ebody) {
            res->kind = LBOX_RESULT_ERROR;
            res->error_type = xstrdup_or_null(etype);
            size_t blen = ebody ? strlen(ebody) : 0;
            unsigned char *dec = lbox_xmalloc(blen / 4 * 3 + 4);
            ssize_t n = ebody ? base64_decode(ebody, blen, dec) : -1;
            if (n >= 0) {
                free(rq->body);
                rq->body = (char *)dec;
                rq->len = (size_t)n;
                rq->body[n] = 0;
            } else {
                free(dec);
            }
            free(res->content_type);
            res->content_type = lbox_xstrdup("application/json");
        } else {
            res->kind = LBOX_RESULT_RESPONSE;
        }
        if (res->kind == LBOX_RESULT_ERROR || !res->streamed)
            take_body(api, rq, res);
        else
            res->body = lbox_xstrdup("");
        return rapi_reply_status_ok(c);
    }
    res->kind = rq->route == R_ERROR ? LBOX_RESULT_ERROR : LBOX_RESULT_RESPONSE;
    take_body(api, rq, res);
    if (rq->route == R_ERROR) {
        res->error_type = xstrdup_or_null(rapi_header(c, "Lambda-Runtime-Function-Error-Type"));
        if (ctype && !strcmp(ctype, "application/vnd.aws.lambda.error.cause+json"))
            reshape_error_cause(res);
    }
    return rapi_reply_status_ok(c);
}

static enum MHD_Result handle_init_error(struct lbox_rapi *api, struct MHD_Connection *c,
                                         struct request *rq)
{
    enum lbox_rt_phase from = api->st.phase;
    /* Refused before the state changes: an init error the runner cannot hand on must not
     * leave it in InitError with nothing to say (the runtime then exits, which is said). */
    if (rq->too_large)
        return reply_too_large(c);
    if (lbox_rs_init_error(&api->st) != LBOX_RS_OK)
        return reply_bad_state(c, from, "InitError");
    struct lbox_rapi_result *res = &api->init_error;
    lbox_rapi_result_free(res);
    res->kind = LBOX_RESULT_ERROR;
    take_body(api, rq, res);
    json_t *j = json_loadb(res->body, res->len, 0, NULL);
    res->content_type = lbox_xstrdup(j ? "application/json" : "application/octet-stream");
    json_decref(j);
    res->error_type = xstrdup_or_null(rapi_header(c, "Lambda-Runtime-Function-Error-Type"));
    rapi_wake(api);
    return rapi_reply_status_ok(c);
}

/* ---- the MHD callbacks -------------------------------------------------------------------- */

static void drop_body(struct lbox_rapi *api, struct request *rq)
{
    api->buffered -= rq->cap;
    free(rq->body);
    rq->body = NULL;
    rq->len = rq->cap = 0;
}

/* Requests whose body nobody reads: routes that take none, and answers naming another
 * invoke (they get 400 whatever they carry). Decided before the first byte arrives. */
static bool body_unwanted(struct lbox_rapi *api, const struct request *rq)
{
    switch (rq->route) {
    case R_RESPONSE:
    case R_ERROR:
        if (rq->streaming)
            return rq->stream_verdict != LBOX_RS_OK;
        return rq->id_too_long || strcmp(rq->id, api->st.request_id) != 0;
    case R_INIT_ERROR:
    case R_EXT_REGISTER:
    case R_EXT_INIT_ERROR:
    case R_EXT_EXIT_ERROR:
        return false;
    case R_TELEMETRY:
    case R_LOGS:
        return api->cfg.telemetry == NULL;
    default:
        return true;
    }
}

static void append_body(struct lbox_rapi *api, struct request *rq, const char *data, size_t n,
                        size_t limit)
{
    if (rq->unwanted)
        return;
    if (rq->too_large || rq->len + n > limit) {
        /* Keep reading so the connection stays usable, but keep nothing. */
        rq->too_large = true;
        drop_body(api, rq);
        return;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n + 1)
            cap *= 2;
        if (api->buffered - rq->cap + cap > LBOX_RAPI_BODY_BUDGET) {
            /* Other connections hold the rest: this one is too large as things stand. */
            rq->too_large = true;
            drop_body(api, rq);
            return;
        }
        api->buffered += cap - rq->cap;
        rq->body = lbox_xrealloc(rq->body, cap);
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = 0;
}

/* MHD has taken a parked connection back (it calls us again, or ends it). */
static void resumed(struct lbox_rapi *api, struct request *rq)
{
    if (rq->suspended) {
        rq->suspended = false;
        if (--api->suspended == 0)
            pthread_cond_signal(&api->resumed);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct lbox_rapi *api = cls;
    struct request *rq = *con_cls;

    if (!rq) {
        rq = lbox_xcalloc(1, sizeof *rq);
        rq->ext_index = -1;
        clock_gettime(CLOCK_REALTIME, &rq->arrived_at);
        rq->arrived_ns = lbox_mono_ns();
        rq->route = route_of(url, method, rq);
        *con_cls = rq;
        if (rq->route == R_RESPONSE) {
            const char *mode = rapi_header(c, "Lambda-Runtime-Function-Response-Mode");
            if (mode && strcmp(mode, "streaming") != 0)
                rq->bad_mode = true;
            else if (mode) {
                /* Streamed bytes pass through as they come, so the state changes now. */
                rq->streaming = true;
                pthread_mutex_lock(&api->lock);
                rq->stream_verdict = rq->id_too_long ? LBOX_RS_BAD_ID
                                                     : lbox_rs_stream_begin(&api->st, rq->id);
                if (rq->stream_verdict == LBOX_RS_OK) {
                    pthread_mutex_lock(&api->stream_lock);
                    api->stream_rq = rq;
                    pthread_mutex_unlock(&api->stream_lock);
                }
                pthread_mutex_unlock(&api->lock);
            }
        }
        pthread_mutex_lock(&api->lock);
        rq->unwanted = body_unwanted(api, rq);
        pthread_mutex_unlock(&api->lock);
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->streaming && rq->stream_verdict == LBOX_RS_OK && api->cfg.stream) {
            /* Past the limit the rest is read and dropped, so the runtime can finish. */
            size_t room = LBOX_MAX_STREAMED_BYTES - rq->streamed;
            if (n > room)
                rq->too_large = true;
            pthread_mutex_lock(&api->stream_lock);
            if (room && api->stream_rq == rq)
                api->cfg.stream(api->cfg.stream_ctx, upload_data, n < room ? n : room);
            pthread_mutex_unlock(&api->stream_lock);
            rq->streamed += n < room ? n : room;
            return MHD_YES;
        }
        append_body(api, rq, upload_data, n,
                    rq->streaming ? LBOX_MAX_STREAMED_BYTES : LBOX_MAX_RESPONSE_BYTES);
        return MHD_YES;
    }

    pthread_mutex_lock(&api->lock);
    resumed(api, rq);
    rq->whole = true;
    enum MHD_Result ret;
    switch (rq->route) {
    case R_NEXT: ret = handle_next(api, c, rq); break;
    case R_RESPONSE:
    case R_ERROR: ret = handle_answer(api, c, rq); break;
    case R_INIT_ERROR: ret = handle_init_error(api, c, rq); break;
    case R_EXT_REGISTER: ret = rapi_ext_register(api, c, rq); break;
    case R_EXT_NEXT: ret = rapi_ext_next(api, c, rq); break;
    case R_EXT_INIT_ERROR:
    case R_EXT_EXIT_ERROR: ret = rapi_ext_error(api, c, rq); break;
    /* Go's type for a body it sniffs as text: RAPID's ping sets none. */
    case R_PING: ret = rapi_reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "pong", 4); break;
    case R_LOGS: ret = rapi_telemetry_subscribe(api, c, rq, LBOX_LOGS_API); break;
    case R_TELEMETRY: ret = rapi_telemetry_subscribe(api, c, rq, LBOX_TELEMETRY_API); break;
    case R_BAD_METHOD: ret = reply_bad_method(c, rq->allow); break;
    default: ret = reply_not_found(c); break;
    }
    pthread_mutex_unlock(&api->lock);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct lbox_rapi *api = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    pthread_mutex_lock(&api->lock);
    resumed(api, rq);
    if (rq->parked && --api->parked_open == 0)
        pthread_cond_signal(&api->resumed);
    if (api->runtime_parked == c)
        api->runtime_parked = NULL;
    for (size_t i = 0; i < LBOX_MAX_EXTENSIONS; i++)
        if (api->ext_parked[i] == c)
            api->ext_parked[i] = NULL;
    /* A streamed response cut short (the runtime died mid-stream) still ends the stream. */
    if (rq->streaming && rq->stream_verdict == LBOX_RS_OK && api->st.phase == LBOX_RT_STREAMING &&
        toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        lbox_rs_stream_end(&api->st);
        set_platform_error(&api->result, "Runtime.TruncatedResponse",
                           "Response stream was truncated");
        rapi_wake(api);
    }
    /* So does a buffered one for the current invoke: RAPID reads a body cut short as its
     * response (TruncatedHTTPRequest, to a runtime that can no longer hear it) and the
     * invoker gets Runtime.TruncatedResponse. */
    if (rq->route == R_RESPONSE && !rq->streaming && !rq->whole && !rq->bad_mode &&
        !rq->id_too_long && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
        lbox_rs_response(&api->st, rq->id) == LBOX_RS_OK) {
        set_platform_error(&api->result, "Runtime.TruncatedResponse",
                           "Response payload was truncated");
        rapi_wake(api);
    }
    pthread_mutex_lock(&api->stream_lock);
    if (api->stream_rq == rq) /* its address may be a new request's next */
        api->stream_rq = NULL;
    pthread_mutex_unlock(&api->stream_lock);
    pthread_mutex_unlock(&api->lock);
    drop_body(api, rq);
    free(rq);
    *con_cls = NULL;
}

/* libmicrohttpd's accept policy: the runner's say on who may connect (cfg.peer_ok). */
static enum MHD_Result accept_peer(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct lbox_rapi *api = cls;
    return api->cfg.peer_ok(api->cfg.peer_ctx, addr, len) ? MHD_YES : MHD_NO;
}

/* ---- runner side -------------------------------------------------------------------------- */

static void resume(struct MHD_Connection **slot)
{
    if (*slot) {
        rapi_mhd->resume_connection(*slot);
        *slot = NULL;
    }
}

static void resume_all(struct lbox_rapi *api)
{
    resume(&api->runtime_parked);
    for (size_t i = 0; i < LBOX_MAX_EXTENSIONS; i++)
        resume(&api->ext_parked[i]);
}

void lbox_rapi_prepare(void)
{
    lbox_mhd_preload();
}

int lbox_rapi_start(int listen_fd, const struct lbox_rapi_config *cfg, struct lbox_rapi **out,
                    struct lbox_error *err)
{
    if (!(rapi_mhd = lbox_mhd_api(err)))
        return -1;
    struct lbox_rapi *api = lbox_xcalloc(1, sizeof *api);
    api->listen_fd = listen_fd;
    api->cfg = *cfg;
    api->function_name = lbox_xstrdup(cfg->function_name ? cfg->function_name : "function");
    api->function_version =
        lbox_xstrdup(cfg->function_version ? cfg->function_version : "$LATEST");
    api->handler = lbox_xstrdup(cfg->handler ? cfg->handler : "");
    api->account_id = xstrdup_or_null(cfg->account_id);
    lbox_rs_reset(&api->st);
    pthread_mutex_init(&api->lock, NULL);
    pthread_mutex_init(&api->telemetry_lock, NULL);
    pthread_mutex_init(&api->stream_lock, NULL);
    pthread_cond_init(&api->resumed, NULL);
    api->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (api->wake_fd < 0) {
        lbox_err_errno(err, errno, "Runtime API: eventfd");
        goto fail;
    }
    /* Long polls never time out (Lambda's /next blocks as long as it takes); a small
     * connection limit bounds what a hostile function can open. Request headers may take
     * up to 1 MB, as in RAPID (Go's default): the runtime repeats an error's message in
     * its X-Ray cause header, and a long one must still reach the invoker as the
     * function's error. The pool is mapped lazily, so it costs only what is used.
     * poll(), not epoll: with epoll (libmicrohttpd 0.9.75), a client that sent half a body
     * and closed left its connection in CLOSE-WAIT for good, holding a slot and its body's
     * share of the budget, so a function could break its environment for every later
     * invoke. poll() over at most 32 connections costs nothing. */
    api->daemon = rapi_mhd->start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0,
        cfg->peer_ok ? accept_peer : NULL, api, on_request, api, MHD_OPTION_LISTEN_SOCKET,
        listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)0, MHD_OPTION_CONNECTION_LIMIT, (unsigned)LBOX_RAPI_CONNECTIONS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LBOX_RAPI_CONNECTION_MEMORY, MHD_OPTION_END);
    if (!api->daemon) {
        lbox_err(err, LBOX_E_SYS,
                 "Runtime API: libmicrohttpd could not serve on the sandbox's socket (fd %d)",
                 listen_fd);
        goto fail;
    }
    *out = api;
    return 0;
fail:
    if (api->wake_fd >= 0)
        close(api->wake_fd);
    close(listen_fd);
    pthread_mutex_destroy(&api->lock);
    pthread_mutex_destroy(&api->telemetry_lock);
    pthread_mutex_destroy(&api->stream_lock);
    pthread_cond_destroy(&api->resumed);
    free(api->function_name);
    free(api->function_version);
    free(api->handler);
    free(api->account_id);
    free(api);
    return -1;
}

static void free_invoke(struct lbox_rapi *api)
{
    free(api->event);
    free(api->arn);
    free(api->trace_id);
    free(api->client_context);
    free(api->cognito_identity);
    free(api->content_type);
    free(api->ext_invoke_event);
    api->event = api->arn = api->trace_id = api->client_context = NULL;
    api->cognito_identity = api->content_type = api->ext_invoke_event = NULL;
    api->event_len = 0;
}

void lbox_rapi_stop_telemetry(struct lbox_rapi *api)
{
    if (!api)
        return;
    pthread_mutex_lock(&api->telemetry_lock);
    pthread_mutex_lock(&api->lock);
    api->cfg.telemetry = NULL;
    pthread_mutex_unlock(&api->lock);
    pthread_mutex_unlock(&api->telemetry_lock);
}

void lbox_rapi_stop(struct lbox_rapi *api)
{
    if (!api)
        return;
    pthread_mutex_lock(&api->lock);
    api->stopping = true;
    resume_all(api);
    pthread_mutex_unlock(&api->lock);
    /* MHD aborts the process when stopped with a connection still suspended, and a resumed
     * connection is only taken back by its own thread's next turn: wait for that (it
     * answers at once, as stopping is set), and for the answers to be sent (poll() sends
     * them a turn later), at most a second. */
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 1;
    pthread_mutex_lock(&api->lock);
    while ((api->suspended || api->parked_open) &&
           pthread_cond_timedwait(&api->resumed, &api->lock, &limit) == 0)
        ;
    pthread_mutex_unlock(&api->lock);
    rapi_mhd->stop_daemon(api->daemon);
    close(api->wake_fd);
    free_invoke(api);
    free(api->ext_shutdown_event);
    lbox_rapi_result_free(&api->result);
    lbox_rapi_result_free(&api->init_error);
    pthread_mutex_destroy(&api->lock);
    pthread_mutex_destroy(&api->telemetry_lock);
    pthread_mutex_destroy(&api->stream_lock);
    pthread_cond_destroy(&api->resumed);
    free(api->function_name);
    free(api->function_version);
    free(api->handler);
    free(api->account_id);
    free(api);
}

int lbox_rapi_wait_fd(struct lbox_rapi *api)
{
    return api->wake_fd;
}

void lbox_rapi_clear_wait(struct lbox_rapi *api)
{
    uint64_t v;
    ssize_t r = read(api->wake_fd, &v, sizeof v);
    (void)r; /* EAGAIN: nothing was pending */
}

void lbox_rapi_set_external_extensions(struct lbox_rapi *api, const char *const *names,
                                       size_t n)
{
    pthread_mutex_lock(&api->lock);
    api->n_external = 0;
    for (size_t i = 0; i < n && i < LBOX_MAX_EXTENSIONS; i++)
        snprintf(api->external[api->n_external++], sizeof api->external[0], "%s", names[i]);
    pthread_mutex_unlock(&api->lock);
}

void lbox_rapi_end_stream(struct lbox_rapi *api)
{
    pthread_mutex_lock(&api->stream_lock);
    api->stream_rq = NULL;
    pthread_mutex_unlock(&api->stream_lock);
}

void lbox_rapi_reset(struct lbox_rapi *api)
{
    lbox_rapi_end_stream(api);
    pthread_mutex_lock(&api->lock);
    api->generation++;
    resume_all(api);
    lbox_rs_reset(&api->st);
    free_invoke(api);
    free(api->ext_shutdown_event);
    api->ext_shutdown_event = NULL;
    lbox_rapi_result_free(&api->result);
    lbox_rapi_result_free(&api->init_error);
    pthread_mutex_unlock(&api->lock);
}

void lbox_rapi_status(struct lbox_rapi *api, struct lbox_rapi_status *st)
{
    pthread_mutex_lock(&api->lock);
    st->init_done = lbox_rs_init_done(&api->st);
    st->init_error = api->st.phase == LBOX_RT_INIT_ERROR;
    st->invoke_done = lbox_rs_invoke_done(&api->st) || api->result.kind != LBOX_RESULT_NONE;
    st->runtime_waiting = api->st.phase == LBOX_RT_READY && !api->st.queued;
    st->n_extensions = api->st.n_ext;
    st->body_bytes_held = atomic_load(&api->buffered);
    st->extensions_idle = true;
    for (size_t i = 0; i < api->st.n_ext; i++)
        if (api->st.ext[i].phase != LBOX_EXT_READY || api->st.ext[i].has_event)
            st->extensions_idle = false;
    /* The invoke is only over once extensions are back too (they may run after the
     * response, as on Lambda). */
    if (st->invoke_done && !st->extensions_idle)
        st->invoke_done = false;
    pthread_mutex_unlock(&api->lock);
}

int lbox_rapi_queue(struct lbox_rapi *api, const struct lbox_rapi_invoke *inv,
                    struct lbox_error *err)
{
    if (inv->event_len > LBOX_MAX_EVENT_BYTES)
        return lbox_err(err, LBOX_E_LIMIT,
                        "Request must be smaller than 6291456 bytes for the InvokeFunction "
                        "operation (this event has %zu bytes)",
                        inv->event_len);
    pthread_mutex_lock(&api->lock);
    enum lbox_rs_verdict v = lbox_rs_queue(&api->st, inv->request_id);
    if (v != LBOX_RS_OK && v != LBOX_RS_DELIVER) {
        enum lbox_rt_phase ph = api->st.phase;
        pthread_mutex_unlock(&api->lock);
        return lbox_err(err, LBOX_E_BUSY,
                        "Runtime API: cannot hand an invoke to the runtime in state %s%s",
                        lbox_rs_phase_name(ph),
                        v == LBOX_RS_BUSY ? " (an invoke is already in flight)" : "");
    }
    free_invoke(api);
    lbox_rapi_result_free(&api->result);
    api->event = lbox_xmalloc(inv->event_len + 1);
    memcpy(api->event, inv->event, inv->event_len);
    api->event_len = inv->event_len;
    snprintf(api->deadline, sizeof api->deadline, "%" PRId64, inv->deadline_ms);
    api->arn = lbox_xstrdup(inv->function_arn ? inv->function_arn : "");
    api->trace_id = xstrdup_or_null(inv->trace_id);
    api->client_context = xstrdup_or_null(inv->client_context);
    api->cognito_identity = xstrdup_or_null(inv->cognito_identity);
    api->content_type = xstrdup_or_null(inv->content_type);

    json_t *ev = json_pack("{s:s,s:I,s:s,s:s,s:{s:s,s:s}}", "eventType", "INVOKE", "deadlineMs",
                           (json_int_t)inv->deadline_ms, "requestId", inv->request_id,
                           "invokedFunctionArn", api->arn, "tracing", "type",
                           "X-Amzn-Trace-Id", "value", api->trace_id ? api->trace_id : "");
    api->ext_invoke_event = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    lbox_rs_ext_broadcast(&api->st, false);

    if (v == LBOX_RS_DELIVER)
        resume(&api->runtime_parked);
    for (size_t i = 0; i < api->st.n_ext; i++)
        if (api->st.ext[i].has_event)
            resume(&api->ext_parked[i]);
    pthread_mutex_unlock(&api->lock);
    return 0;
}

static bool take(struct lbox_rapi *api, struct lbox_rapi_result *src, struct lbox_rapi_result *res)
{
    pthread_mutex_lock(&api->lock);
    bool have = src->kind != LBOX_RESULT_NONE;
    if (have) {
        *res = *src;
        memset(src, 0, sizeof *src);
    }
    pthread_mutex_unlock(&api->lock);
    return have;
}

bool lbox_rapi_take_result(struct lbox_rapi *api, struct lbox_rapi_result *res)
{
    return take(api, &api->result, res);
}

bool lbox_rapi_take_init_error(struct lbox_rapi *api, struct lbox_rapi_result *res)
{
    return take(api, &api->init_error, res);
}

void lbox_rapi_shutdown(struct lbox_rapi *api, const char *reason, int64_t deadline_ms)
{
    pthread_mutex_lock(&api->lock);
    json_t *ev = json_pack("{s:s,s:s,s:I}", "eventType", "SHUTDOWN", "shutdownReason", reason,
                           "deadlineMs", (json_int_t)deadline_ms);
    free(api->ext_shutdown_event);
    api->ext_shutdown_event = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    lbox_rs_ext_broadcast(&api->st, true);
    for (size_t i = 0; i < api->st.n_ext; i++)
        if (api->st.ext[i].has_event)
            resume(&api->ext_parked[i]);
    pthread_mutex_unlock(&api->lock);
}
