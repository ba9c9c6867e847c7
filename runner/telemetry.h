/* Lambda's Telemetry API (2022-07-01) and the older Logs API (2020-08-15): an extension
 * subscribes (PUT /2022-07-01/telemetry or PUT /2020-08-15/logs, one or the other) to the
 * environment's platform events, the function's log records and the extensions' log lines,
 * and the runner delivers them in batches, each a JSON array of {time, type, record}
 * POSTed (or PUT, as a Logs API listener may ask) to the extension's HTTP listener inside
 * the sandbox, or newline-delimited over TCP. The two APIs' events differ: the platform's are made for each API by its own call
 * (lbox_telemetry_platform, lbox_telemetry_logs_platform), log lines for both by one.
 *
 * One per environment. Subscriptions come from the Runtime API's server thread, events from
 * the runner's thread, and each subscriber has a delivery thread of its own (a slow
 * listener holds up only itself), which POSTs through libcurl over sockets the sandbox
 * makes in its network namespace (lbox_sandbox_tcp_socket): nothing outside the sandbox is
 * reached, unless the sandbox shares the host's network.
 *
 * Events that come before a subscription, from the start of an init until it ends
 * (lbox_telemetry_init_over), are kept and given to each subscriber, as Lambda gives a
 * subscriber the init's platform.initStart. */
#ifndef LBOX_RUNNER_TELEMETRY_H
#define LBOX_RUNNER_TELEMETRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* A new TCP socket whose connect() reaches the sandbox's 127.0.0.1; -1 on failure. Called
 * from the delivery thread. */
typedef int (*lbox_telemetry_socket_fn)(void *ctx);

struct lbox_telemetry;

enum lbox_telemetry_api { LBOX_TELEMETRY_API, LBOX_LOGS_API };

/* json_logs: the function logs with AWS_LAMBDA_LOG_FORMAT=JSON (its lines that are JSON
 * objects are then object records). */
struct lbox_telemetry *lbox_telemetry_new(lbox_telemetry_socket_fn socket_fn, void *ctx,
                                          bool json_logs);
/* Ends every subscription (lbox_telemetry_unsubscribe_all) and frees. NULL is a no-op. */
void lbox_telemetry_free(struct lbox_telemetry *t);
/* Ends every subscription: deliveries in flight stop at once, what is queued is dropped
 * (call lbox_telemetry_flush first to deliver it). The environment does this when its
 * extensions go (a reset), whose new processes subscribe again. */
void lbox_telemetry_unsubscribe_all(struct lbox_telemetry *t);

/* The answer to a subscription request. */
struct lbox_telemetry_answer {
    unsigned status;          /* HTTP status */
    char *body;               /* malloc'd */
    const char *content_type; /* static */
};

/* PUT /2022-07-01/telemetry or PUT /2020-08-15/logs from the registered extension `name`
 * (the caller checked its Lambda-Extension-Identifier). Validates the body as Lambda does;
 * on success the subscriber gets the kept events of its API and a
 * platform.telemetrySubscription (platform.logsSubscription) event. */
void lbox_telemetry_subscribe(struct lbox_telemetry *t, enum lbox_telemetry_api api,
                              const char *name, const char *body, size_t len,
                              struct lbox_telemetry_answer *answer);

/* Whether anyone subscribed to either API, or events are still kept for a subscriber to
 * come (room left): when not, events need not be built. */
bool lbox_telemetry_wanted(struct lbox_telemetry *t);

/* Queues a Telemetry API platform event ("platform.start", ...); record is taken over. */
void lbox_telemetry_platform(struct lbox_telemetry *t, const char *type, json_t *record);
/* Queues a Logs API platform event; record (an object, or a string for platform.fault) is
 * taken over. platform.runtimeDone goes to subscribers of schema 2021-03-18 only. */
void lbox_telemetry_logs_platform(struct lbox_telemetry *t, const char *type, json_t *record);

enum lbox_telemetry_source { LBOX_TELEMETRY_FUNCTION, LBOX_TELEMETRY_EXTENSION };
/* Queues one log record (without its last newline) of the function or of an extension.
 * Telemetry API: its record is the line as text, or for a function's line that is a JSON
 * object (its records with AWS_LAMBDA_LOG_FORMAT=JSON) that object. Logs API: the text
 * with its newline, always. Bytes that are not UTF-8 become U+FFFD. */
void lbox_telemetry_log(struct lbox_telemetry *t, enum lbox_telemetry_source src,
                        const char *line, size_t len);
/* The same for a piece of a long line or record: last says whether it ends it (a Logs API
 * record gets its newline only there). */
void lbox_telemetry_log_piece(struct lbox_telemetry *t, enum lbox_telemetry_source src,
                              const char *data, size_t len, bool last);

/* An init starts (the environment's first, or one after a reset): subscriptions are
 * open, and when keep (the image has extensions to subscribe) events are kept for them. */
void lbox_telemetry_init_start(struct lbox_telemetry *t, bool keep);

/* The init phase is over: events are no longer kept, and subscriptions are closed
 * (403 Telemetry.SubscriptionClosed, Logs.SubscriptionClosed), as on Lambda. */
void lbox_telemetry_init_over(struct lbox_telemetry *t);

/* Delivers everything queued, whatever the buffering says, and waits until it is
 * delivered or given up, at most timeout_ms (Lambda sends what is left before the
 * extensions get SHUTDOWN). */
void lbox_telemetry_flush(struct lbox_telemetry *t, int timeout_ms);

/* Lambda's time format in events: UTC with milliseconds ("2022-10-12T00:03:50.000Z"), of
 * now or of a given time. */
void lbox_telemetry_time(char *buf, size_t size);
void lbox_telemetry_time_of(const struct timespec *ts, char *buf, size_t size);

#endif
