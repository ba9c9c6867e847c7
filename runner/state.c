#include "state.h"

#include <stdio.h>
#include <string.h>

void lbox_rs_reset(struct lbox_rstate *s)
{
    memset(s, 0, sizeof *s);
    s->phase = LBOX_RT_STARTED;
}

const char *lbox_rs_phase_name(enum lbox_rt_phase p)
{
    switch (p) {
    case LBOX_RT_STARTED: return "Started";
    case LBOX_RT_INIT_ERROR: return "InitError";
    case LBOX_RT_READY: return "Ready";
    case LBOX_RT_RUNNING: return "Running";
    case LBOX_RT_STREAMING: return "InvocationResponse"; /* RAPID has no state of its own */
    case LBOX_RT_RESPONSE_SENT: return "RuntimeResponseSentState"; /* RAPID's name, as is */
    }
    return "Unknown";
}

enum lbox_rs_verdict lbox_rs_take(struct lbox_rstate *s)
{
    if (s->phase != LBOX_RT_READY || !s->queued)
        return LBOX_RS_PARK;
    s->queued = false;
    s->phase = LBOX_RT_RUNNING;
    return LBOX_RS_DELIVER;
}

enum lbox_rs_verdict lbox_rs_next(struct lbox_rstate *s)
{
    /* A runtime that asks again while it holds an event (its first /next connection broke)
     * gets that event again, as RAPID's running state allows. */
    if (s->phase == LBOX_RT_RUNNING)
        return LBOX_RS_DELIVER;
    /* Otherwise only a runtime that has not asked yet, or has just answered, may ask. */
    if (s->phase != LBOX_RT_STARTED && s->phase != LBOX_RT_RESPONSE_SENT)
        return LBOX_RS_BAD_STATE;
    s->phase = LBOX_RT_READY;
    return lbox_rs_take(s);
}

/* The checks shared by response, stream and error: the id first (as Lambda's request-id
 * middleware runs before the state machine), then the phase. */
static enum lbox_rs_verdict check_answer(const struct lbox_rstate *s, const char *id)
{
    if (!id || !s->request_id[0] || strcmp(id, s->request_id) != 0)
        return LBOX_RS_BAD_ID;
    if (s->phase != LBOX_RT_RUNNING)
        return LBOX_RS_BAD_STATE;
    return LBOX_RS_OK;
}

enum lbox_rs_verdict lbox_rs_response(struct lbox_rstate *s, const char *id)
{
    enum lbox_rs_verdict v = check_answer(s, id);
    if (v == LBOX_RS_OK)
        s->phase = LBOX_RT_RESPONSE_SENT;
    return v;
}

enum lbox_rs_verdict lbox_rs_stream_begin(struct lbox_rstate *s, const char *id)
{
    enum lbox_rs_verdict v = check_answer(s, id);
    if (v == LBOX_RS_OK)
        s->phase = LBOX_RT_STREAMING;
    return v;
}

void lbox_rs_stream_end(struct lbox_rstate *s)
{
    if (s->phase == LBOX_RT_STREAMING)
        s->phase = LBOX_RT_RESPONSE_SENT;
}

enum lbox_rs_verdict lbox_rs_error(struct lbox_rstate *s, const char *id)
{
    return lbox_rs_response(s, id);
}

enum lbox_rs_verdict lbox_rs_init_error(struct lbox_rstate *s)
{
    if (s->phase != LBOX_RT_STARTED)
        return LBOX_RS_BAD_STATE;
    s->phase = LBOX_RT_INIT_ERROR;
    return LBOX_RS_OK;
}

enum lbox_rs_verdict lbox_rs_queue(struct lbox_rstate *s, const char *id)
{
    if (s->queued || s->phase == LBOX_RT_RUNNING || s->phase == LBOX_RT_STREAMING)
        return LBOX_RS_BUSY;
    if (s->phase == LBOX_RT_INIT_ERROR || s->shutting_down)
        return LBOX_RS_BAD_STATE;
    if (!id || strlen(id) >= sizeof s->request_id)
        return LBOX_RS_BAD_ID;
    strcpy(s->request_id, id);
    s->queued = true;
    return s->phase == LBOX_RT_READY ? LBOX_RS_DELIVER : LBOX_RS_OK;
}

static bool extensions_waiting(const struct lbox_rstate *s)
{
    for (size_t i = 0; i < s->n_ext; i++)
        if (s->ext[i].phase != LBOX_EXT_READY || s->ext[i].has_event)
            return false;
    return true;
}

bool lbox_rs_init_done(const struct lbox_rstate *s)
{
    return s->phase == LBOX_RT_READY && !s->queued && extensions_waiting(s);
}

bool lbox_rs_invoke_done(const struct lbox_rstate *s)
{
    if (!s->request_id[0] || s->queued)
        return false;
    if (s->phase != LBOX_RT_RESPONSE_SENT && s->phase != LBOX_RT_READY)
        return false;
    return extensions_waiting(s);
}

enum lbox_rs_verdict lbox_rs_ext_register(struct lbox_rstate *s, const char *id, const char *name,
                                          bool wants_invoke, bool wants_shutdown)
{
    /* Extensions register during init, before the runtime asks for its first event. */
    if (s->phase != LBOX_RT_STARTED)
        return LBOX_RS_BAD_STATE;
    if (s->n_ext >= LBOX_MAX_EXTENSIONS)
        return LBOX_RS_TOO_MANY_EXT;
    if (!id || strlen(id) >= LBOX_ID_LEN)
        return LBOX_RS_BAD_ID;
    struct lbox_ext_state *e = &s->ext[s->n_ext++];
    memset(e, 0, sizeof *e);
    strcpy(e->id, id);
    snprintf(e->name, sizeof e->name, "%s", name ? name : "");
    e->wants_invoke = wants_invoke;
    e->wants_shutdown = wants_shutdown;
    e->phase = LBOX_EXT_REGISTERED;
    return LBOX_RS_OK;
}

struct lbox_ext_state *lbox_rs_ext_find(struct lbox_rstate *s, const char *id)
{
    for (size_t i = 0; id && i < s->n_ext; i++)
        if (!strcmp(s->ext[i].id, id))
            return &s->ext[i];
    return NULL;
}

enum lbox_rs_verdict lbox_rs_ext_take(struct lbox_ext_state *e)
{
    if (!e->has_event)
        return LBOX_RS_PARK;
    e->has_event = false;
    e->phase = LBOX_EXT_BUSY;
    return LBOX_RS_DELIVER;
}

enum lbox_rs_verdict lbox_rs_ext_next(struct lbox_rstate *s, const char *id)
{
    struct lbox_ext_state *e = lbox_rs_ext_find(s, id);
    if (!e)
        return LBOX_RS_UNKNOWN_EXT;
    e->phase = LBOX_EXT_READY;
    return lbox_rs_ext_take(e);
}

size_t lbox_rs_ext_broadcast(struct lbox_rstate *s, bool shutdown)
{
    size_t parked = 0;
    if (shutdown)
        s->shutting_down = true;
    for (size_t i = 0; i < s->n_ext; i++) {
        struct lbox_ext_state *e = &s->ext[i];
        if (shutdown ? !e->wants_shutdown : !e->wants_invoke)
            continue;
        e->has_event = true;
        e->shutdown = shutdown;
        if (e->phase == LBOX_EXT_READY)
            parked++;
    }
    return parked;
}
