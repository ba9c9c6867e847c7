/* What the Runtime API's files share (runtime_api.c: routing, the runtime's endpoints, MHD's
 * callbacks and the runner's side; rapi_extensions.c: the Extensions API; rapi_reply.c: the
 * replies every endpoint sends). Not part of the runner's public interface. */
#ifndef LBOX_RUNNER_RAPI_INTERNAL_H
#define LBOX_RUNNER_RAPI_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "ids.h"
#include "mhd_api.h"
#include "runtime_api.h"
#include "state.h"
#include "telemetry.h"

/* libmicrohttpd, loaded by the first lbox_rapi_start (mhd_api.h): set by each start, to one
 * value. */
extern const struct lbox_mhd_api *_Atomic rapi_mhd;

#define RUNTIME_PREFIX "/2018-06-01/runtime/"
#define EXTENSION_PREFIX "/2020-01-01/extension/"
/* Per connection: headers up to 1 MB, and a read buffer. */
#define LBOX_RAPI_CONNECTION_MEMORY ((1u << 20) + (64u << 10))
/* What a function can make the runner hold: request bodies of all connections together (a
 * runtime sends one answer at a time: 6 MB), and connections (runtime, 10 extensions and
 * their spares). */
#define LBOX_RAPI_BODY_BUDGET (16u << 20)
#define LBOX_RAPI_CONNECTIONS 32

enum route {
    R_NOT_FOUND,
    R_BAD_METHOD,
    R_PING,
    R_NEXT,
    R_RESPONSE,
    R_ERROR,
    R_INIT_ERROR,
    R_EXT_REGISTER,
    R_EXT_NEXT,
    R_EXT_INIT_ERROR,
    R_EXT_EXIT_ERROR,
    R_LOGS,
    R_TELEMETRY,
};

/* One HTTP request in flight (MHD's per-request context). */
struct request {
    enum route route;
    char id[LBOX_ID_LEN];     /* request id from the path, or extension id from the header */
    bool id_too_long;
    const char *allow;        /* R_BAD_METHOD: the path's one method (Allow), or NULL */
    char *body;
    size_t len, cap;
    bool too_large;
    bool unwanted;            /* a body nobody will read: dropped as it comes */
    bool streaming;           /* a streamed /response whose bytes go straight out */
    size_t streamed;          /* bytes of it passed on so far */
    enum lbox_rs_verdict stream_verdict;
    bool bad_mode;            /* Lambda-Runtime-Function-Response-Mode with a wrong value */
    bool whole;               /* the request arrived whole and was handled */
    bool parked;              /* suspended, waiting for an event */
    bool suspended;           /* parked and not yet handled again (counted in api) */
    unsigned generation;      /* api generation when parked (a reset ends stale requests) */
    int ext_index;
    struct timespec arrived_at; /* when its headers came (wall clock) */
    int64_t arrived_ns;         /* the same, monotonic */
};

struct lbox_rapi {
    struct MHD_Daemon *daemon;
    int listen_fd;
    int wake_fd;
    pthread_mutex_t lock;
    pthread_cond_t resumed;   /* signalled when `suspended` or `parked_open` drops to 0 */
    struct lbox_rapi_config cfg;
    /* Held (instead of `lock`) while a subscription is made, which may wait a second for a
     * TCP listener: the runner must see its deadlines meanwhile. Guards cfg.telemetry. */
    pthread_mutex_t telemetry_lock;
    char *function_name, *function_version, *handler;
    char *account_id;         /* NULL: unknown */

    struct lbox_rstate st;
    unsigned generation;
    bool stopping;
    unsigned suspended;       /* connections MHD still holds suspended (see lbox_rapi_stop) */
    unsigned parked_open;     /* requests ever parked whose answer is not sent yet (ditto) */
    struct MHD_Connection *runtime_parked;
    struct MHD_Connection *ext_parked[LBOX_MAX_EXTENSIONS];
    /* Names of the external extensions the runner started (files in /opt/extensions); any
     * other name registers as an internal extension, which cannot have SHUTDOWN. */
    char external[LBOX_MAX_EXTENSIONS][64];
    size_t n_external;

    /* The current invoke (copied from lbox_rapi_queue). */
    char *event;
    size_t event_len;
    char deadline[24];
    char *arn, *trace_id, *client_context, *cognito_identity, *content_type;
    char *ext_invoke_event, *ext_shutdown_event;

    atomic_size_t buffered;   /* bytes of request bodies held (changed by MHD's thread) */
    /* The streamed response whose bytes may still go to cfg.stream: the current invoke's,
     * until the runner ends the invoke (lbox_rapi_end_stream). Bytes of any other request
     * are dropped, so a stream cut by a timeout says no more after its invoke's result.
     * stream_lock is held across each cfg.stream call (taken after `lock`, never before). */
    pthread_mutex_t stream_lock;
    const struct request *stream_rq;

    struct lbox_rapi_result result;      /* of the current invoke */
    struct lbox_rapi_result init_error;
};

/* ---- replies (rapi_reply.c) ---- */

/* Wakes the runner's wait (lbox_rapi_wait_fd). */
void rapi_wake(struct lbox_rapi *api);
/* ctype and the extra header (hname: hvalue) are left out when NULL. */
enum MHD_Result rapi_reply_with(struct MHD_Connection *c, unsigned status, const char *ctype,
                                const void *body, size_t len, const char *hname,
                                const char *hvalue);
enum MHD_Result rapi_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                           const void *body, size_t len);
/* j as RAPID's JSON replies are (Go's json.Encoder): compact, ending with a newline;
 * malloc'd, NULL on failure. Takes the reference to j. */
char *rapi_json_line(json_t *j);
/* A reply of rapi_json_line(j). Takes the reference to j. */
enum MHD_Result rapi_reply_json(struct MHD_Connection *c, unsigned status, json_t *j);
/* {"errorMessage": msg, "errorType": type}, as RAPID's errors are. */
enum MHD_Result rapi_reply_error(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *msg);
enum MHD_Result rapi_reply_status_ok(struct MHD_Connection *c);
const char *rapi_header(struct MHD_Connection *c, const char *name);

/* ---- runtime_api.c ---- */

/* Holds the request (suspended) in *slot until an event comes. Called with the lock held. */
enum MHD_Result rapi_park(struct lbox_rapi *api, struct MHD_Connection *c, struct request *rq,
                          struct MHD_Connection **slot);

/* ---- the Extensions API (rapi_extensions.c), called with the lock held ---- */

enum MHD_Result rapi_ext_register(struct lbox_rapi *api, struct MHD_Connection *c,
                                  struct request *rq);
enum MHD_Result rapi_ext_next(struct lbox_rapi *api, struct MHD_Connection *c,
                              struct request *rq);
/* /extension/init/error and /extension/exit/error. */
enum MHD_Result rapi_ext_error(struct lbox_rapi *api, struct MHD_Connection *c,
                               struct request *rq);
/* PUT /2022-07-01/telemetry and PUT /2020-08-15/logs (a Telemetry API or Logs API
 * subscription, telemetry.h). */
enum MHD_Result rapi_telemetry_subscribe(struct lbox_rapi *api, struct MHD_Connection *c,
                                         struct request *rq, enum lbox_telemetry_api which);

#endif
