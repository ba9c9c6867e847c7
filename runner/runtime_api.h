/* Lambda's Runtime API (2018-06-01), Extensions API (2020-01-01), and the subscriptions of
 * the Telemetry API (2022-07-01) and the Logs API (2020-08-15), served by libmicrohttpd on a
 * listening socket the caller provides (the sandbox makes it at 127.0.0.1:9001 inside the
 * environment's own network namespace).
 *
 * One server per environment. The server runs in its own thread; the runner drives it from
 * another: queue an invoke, wait on lbox_rapi_wait_fd() (an eventfd that becomes readable
 * whenever the state changed), read the status, take the result. The rules (which request is
 * allowed when) live in state.c. */
#ifndef LBOX_RUNNER_RUNTIME_API_H
#define LBOX_RUNNER_RUNTIME_API_H

#include <stdbool.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "common/error.h"

/* Sync response limit: 6 MiB + 100 bytes, as Lambda's platform allows. */
#define LBOX_MAX_RESPONSE_BYTES 6291556u
/* Streamed response limit (Lambda's 20 MB): the bytes past it are not passed on, and the
 * invoke ends as Function.ResponseSizeTooLarge. */
#define LBOX_MAX_STREAMED_BYTES (20u * 1024 * 1024)
/* Sync request (event) limit. */
#define LBOX_MAX_EVENT_BYTES 6291456u

/* Called from the server thread with each piece of a streamed response, as it arrives. */
typedef void (*lbox_rapi_stream_fn)(void *ctx, const void *data, size_t len);

struct lbox_telemetry;

struct lbox_rapi_config {
    const char *function_name;    /* for extension registration answers */
    const char *function_version; /* "$LATEST" */
    const char *handler;
    /* The function's AWS account id, given to extensions that register with
     * "Lambda-Extension-Accept-Feature: accountId". NULL or "": unknown, and the answer then
     * has no accountId member (RAPID leaves an empty one out). */
    const char *account_id;
    lbox_rapi_stream_fn stream;   /* may be NULL: streamed bytes are then buffered */
    void *stream_ctx;
    /* May be NULL: every connection is taken. Else asked for each connection before it is
     * taken (its peer's address); false refuses it (closed at once). */
    bool (*peer_ok)(void *ctx, const struct sockaddr *peer, socklen_t len);
    void *peer_ctx;
    /* The environment's Telemetry API (telemetry.h), which extensions subscribe to. NULL:
     * a subscription gets 202 Telemetry.NotSupported, as from AWS's emulator. */
    struct lbox_telemetry *telemetry;
};

/* The event handed to the runtime with its Lambda-Runtime-* headers. Strings are copied. */
struct lbox_rapi_invoke {
    const char *request_id;
    const void *event;
    size_t event_len;
    int64_t deadline_ms;          /* Unix epoch milliseconds */
    const char *function_arn;
    const char *trace_id;         /* NULL: header not sent */
    const char *client_context;   /* decoded JSON or NULL */
    const char *cognito_identity; /* JSON or NULL */
    const char *content_type;     /* NULL: application/json */
};

enum lbox_rapi_result_kind {
    LBOX_RESULT_NONE,
    LBOX_RESULT_RESPONSE,   /* /response (body = payload) */
    LBOX_RESULT_ERROR,      /* /error, a streamed error trailer, or a platform-made error */
};

struct lbox_rapi_result {
    enum lbox_rapi_result_kind kind;
    char *body;             /* malloc'd, NUL-terminated for convenience */
    size_t len;
    char *content_type;     /* malloc'd or NULL */
    char *error_type;       /* malloc'd or NULL: the runtime's error type */
    bool streamed;          /* the payload already went to the stream callback */
    /* When the runtime began to send its answer (wall clock, and monotonic), how long the
     * whole of it took to arrive, and its size (streamed bytes included): the Telemetry
     * API's spans and producedBytes. */
    struct timespec answer_at;
    int64_t answer_ns;
    double answer_ms;
    size_t produced;
};

struct lbox_rapi_status {
    bool init_done;         /* runtime and every extension wait for an event */
    bool init_error;        /* /init/error (runtime or extension) was posted */
    bool invoke_done;       /* the queued invoke is answered and extensions are back */
    bool runtime_waiting;   /* the runtime waits in /next with nothing queued */
    size_t n_extensions;
    bool extensions_idle;   /* every extension waits in event/next (none holds an event) */
    size_t body_bytes_held; /* request bodies being received, all connections together */
};

struct lbox_rapi;

/* Loads libmicrohttpd in a background thread, for a caller that will start a Runtime API
 * after other work (see mhd_api.h). Optional: lbox_rapi_start loads it, or waits for this. */
void lbox_rapi_prepare(void);

/* Takes ownership of listen_fd (closed by lbox_rapi_stop). */
int lbox_rapi_start(int listen_fd, const struct lbox_rapi_config *cfg, struct lbox_rapi **api,
                    struct lbox_error *err);
void lbox_rapi_stop(struct lbox_rapi *api);
/* Forgets the config's Telemetry API (subscriptions get 202 Telemetry.NotSupported from
 * now on), so that its owner may free it while the server still runs. */
void lbox_rapi_stop_telemetry(struct lbox_rapi *api);

int lbox_rapi_wait_fd(struct lbox_rapi *api);
void lbox_rapi_clear_wait(struct lbox_rapi *api);

/* The names of the external extensions (files in /opt/extensions) the runner starts: only
 * they may subscribe to SHUTDOWN; other names register as internal extensions. */
void lbox_rapi_set_external_extensions(struct lbox_rapi *api, const char *const *names,
                                       size_t n);

/* A new runtime process starts: forget the old one's state, end its held requests. */
void lbox_rapi_reset(struct lbox_rapi *api);

void lbox_rapi_status(struct lbox_rapi *api, struct lbox_rapi_status *st);

/* Hands an invoke to the runtime (now, or on its next /next) and INVOKE to extensions. */
int lbox_rapi_queue(struct lbox_rapi *api, const struct lbox_rapi_invoke *inv,
                    struct lbox_error *err);

/* The invoke is over (answered, timed out, failed): what its runtime still streams is
 * dropped from now on. Returns once a call to cfg.stream in progress has returned, so the
 * caller may print the result after the stream's last bytes. */
void lbox_rapi_end_stream(struct lbox_rapi *api);

/* Moves the finished invoke's (or the init error's) result into *res; false when none. */
bool lbox_rapi_take_result(struct lbox_rapi *api, struct lbox_rapi_result *res);
bool lbox_rapi_take_init_error(struct lbox_rapi *api, struct lbox_rapi_result *res);

/* The registered extensions as the Telemetry API's platform.extension records:
 * [{"name", "state", "events": ["INVOKE", "SHUTDOWN"]}, ...] (a new reference). */
json_t *lbox_rapi_extension_records(struct lbox_rapi *api);

/* What the exit of the extension registered as `name` is, as RAPID names it:
 * Extension.InitError or Extension.ExitError after it posted that error, else
 * Extension.Crash. (A static string.) */
const char *lbox_rapi_extension_exit_type(struct lbox_rapi *api, const char *name);

/* Lambda's log lines at the end of an init, one per extension: "EXTENSION\tName: x\tState:
 * Ready\tEvents: [INVOKE, SHUTDOWN]" (external ones in start order, then internal ones);
 * launch_failed names an external extension that could not be started (NULL: none). A
 * malloc'd string, NULL when there is no extension. */
char *lbox_rapi_extension_lines(struct lbox_rapi *api, const char *launch_failed);

/* Whether the extension registered as `name` subscribed to SHUTDOWN (false: unknown). */
bool lbox_rapi_extension_wants_shutdown(struct lbox_rapi *api, const char *name);

/* Sends SHUTDOWN (reason "spindown", "timeout" or "failure") to subscribed extensions. */
void lbox_rapi_shutdown(struct lbox_rapi *api, const char *reason, int64_t deadline_ms);

void lbox_rapi_result_free(struct lbox_rapi_result *res);

#endif
