/* The per-environment state machine behind the Runtime and Extensions APIs.
 *
 * Pure data and pure functions: no sockets, no threads, no clocks. runtime_api.c holds one
 * of these under its mutex and asks it, for every request, whether the request is allowed
 * and what happens next; the environment (runner side) queues invokes and resets it.
 *
 * Runtime phases follow Lambda's rules: the runtime initialises (STARTED), then long-polls
 * /next (READY); an event is handed over (RUNNING); exactly one response or error closes the
 * invoke (RESPONSE_SENT) until the runtime asks for the next event. A request naming another
 * invoke is 400 InvalidRequestID; a request that does not fit the phase is 403
 * InvalidStateTransition. */
#ifndef LBOX_RUNNER_STATE_H
#define LBOX_RUNNER_STATE_H

#include <stdbool.h>
#include <stddef.h>

#define LBOX_MAX_EXTENSIONS 10
#define LBOX_ID_LEN 37 /* UUID text + NUL */

enum lbox_rt_phase {
    LBOX_RT_STARTED,       /* bootstrap started, has not asked for an event yet */
    LBOX_RT_INIT_ERROR,    /* posted /init/error */
    LBOX_RT_READY,         /* waiting in /next */
    LBOX_RT_RUNNING,       /* holds an event, owes a response */
    LBOX_RT_STREAMING,     /* is streaming its response */
    LBOX_RT_RESPONSE_SENT, /* answered; will ask for the next event */
};

/* What a request or call leads to. */
enum lbox_rs_verdict {
    LBOX_RS_OK,            /* accepted */
    LBOX_RS_PARK,          /* /next accepted, nothing to hand out yet: hold the request */
    LBOX_RS_DELIVER,       /* hand the queued event out now */
    LBOX_RS_BAD_ID,        /* 400 InvalidRequestID */
    LBOX_RS_BAD_STATE,     /* 403 InvalidStateTransition */
    LBOX_RS_UNKNOWN_EXT,   /* 403 Extension.InvalidExtensionIdentifier */
    LBOX_RS_TOO_MANY_EXT,  /* 403: more than LBOX_MAX_EXTENSIONS */
    LBOX_RS_BUSY,          /* runner side: an invoke is already queued or running */
};

enum lbox_ext_phase {
    LBOX_EXT_REGISTERED, /* registered, has not asked for an event yet */
    LBOX_EXT_READY,      /* waiting in event/next */
    LBOX_EXT_BUSY,       /* holds an event */
};

struct lbox_ext_state {
    char id[LBOX_ID_LEN];
    char name[64];
    bool wants_invoke, wants_shutdown;
    enum lbox_ext_phase phase;
    bool has_event;   /* an event waits for this extension's next event/next */
    bool shutdown;    /* the waiting or delivered event is SHUTDOWN */
    /* Set by /extension/init/error or /exit/error: what its exit will be called, as RAPID
     * names it (Extension.InitError or .ExitError; NULL: Extension.Crash). */
    const char *exit_type;
};

struct lbox_rstate {
    enum lbox_rt_phase phase;
    bool queued;                    /* an invoke waits for the runtime's /next */
    bool shutting_down;             /* SHUTDOWN sent: no more invokes */
    char request_id[LBOX_ID_LEN];   /* the queued or current invoke ("" = none yet) */
    size_t n_ext;
    struct lbox_ext_state ext[LBOX_MAX_EXTENSIONS];
};

/* Back to a freshly started runtime with no extensions (also a reset after timeout/crash). */
void lbox_rs_reset(struct lbox_rstate *s);

/* Runtime side. */
enum lbox_rs_verdict lbox_rs_next(struct lbox_rstate *s);
/* For a held /next: DELIVER (now RUNNING) when an invoke is queued, else PARK. */
enum lbox_rs_verdict lbox_rs_take(struct lbox_rstate *s);
enum lbox_rs_verdict lbox_rs_response(struct lbox_rstate *s, const char *id);
enum lbox_rs_verdict lbox_rs_stream_begin(struct lbox_rstate *s, const char *id);
void lbox_rs_stream_end(struct lbox_rstate *s);
enum lbox_rs_verdict lbox_rs_error(struct lbox_rstate *s, const char *id);
enum lbox_rs_verdict lbox_rs_init_error(struct lbox_rstate *s);

/* Runner side: queue an invoke. DELIVER when the runtime is already parked in /next (resume
 * it), OK when it will get the event on its next /next, BUSY/BAD_STATE otherwise. */
enum lbox_rs_verdict lbox_rs_queue(struct lbox_rstate *s, const char *id);

/* Init is over when the runtime waits for an event and every extension does too. */
bool lbox_rs_init_done(const struct lbox_rstate *s);
/* The current invoke is over: the runtime answered and every extension is back in next. */
bool lbox_rs_invoke_done(const struct lbox_rstate *s);

/* Extensions side. */
enum lbox_rs_verdict lbox_rs_ext_register(struct lbox_rstate *s, const char *id, const char *name,
                                          bool wants_invoke, bool wants_shutdown);
struct lbox_ext_state *lbox_rs_ext_find(struct lbox_rstate *s, const char *id);
/* event/next: DELIVER when an event waits, PARK otherwise. */
enum lbox_rs_verdict lbox_rs_ext_next(struct lbox_rstate *s, const char *id);
/* For a held event/next: DELIVER (now BUSY) when an event waits, else PARK. */
enum lbox_rs_verdict lbox_rs_ext_take(struct lbox_ext_state *e);
/* Queues INVOKE (or SHUTDOWN) for every subscribed extension; returns how many are READY
 * (parked) and must be resumed now. */
size_t lbox_rs_ext_broadcast(struct lbox_rstate *s, bool shutdown);

/* Names used in 403 messages ("State transition from X to Y failed ..."). */
const char *lbox_rs_phase_name(enum lbox_rt_phase p);

#endif
