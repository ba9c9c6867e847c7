/* The Extensions API (2020-01-01): registration, the INVOKE and SHUTDOWN events, the
 * extensions' init and exit errors, and the lines Lambda logs about them. */
#include "rapi_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "telemetry.h"

static bool is_external(const struct lbox_rapi *api, const char *name)
{
    for (size_t i = 0; i < api->n_external; i++)
        if (!strcmp(api->external[i], name))
            return true;
    return false;
}

static const char *ext_phase_name(enum lbox_ext_phase p)
{
    return p == LBOX_EXT_REGISTERED ? "Registered" : p == LBOX_EXT_READY ? "Ready" : "Running";
}

/* Whether the extension listed `feature` in Lambda-Extension-Accept-Feature: RAPID splits the
 * (first) header's value at commas and compares each trimmed item exactly. */
static bool accepts_feature(struct MHD_Connection *c, const char *feature)
{
    const char *v = rapi_header(c, "Lambda-Extension-Accept-Feature");
    size_t flen = strlen(feature);
    while (v) {
        const char *end = strchr(v, ',');
        size_t n = end ? (size_t)(end - v) : strlen(v);
        while (n && strchr(" \t\r\n\v\f", *v)) {
            v++;
            n--;
        }
        while (n && strchr(" \t\r\n\v\f", v[n - 1]))
            n--;
        if (n == flen && !memcmp(v, feature, n))
            return true;
        v = end ? end + 1 : NULL;
    }
    return false;
}

/* Registration, checked in RAPID's order: the name, the body, then (external or internal)
 * the events and whether the extension may register now. */
/* Whether an extension's name can be kept and shown as it is (see rapi_ext_register). */
static bool name_fits(const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof(((struct lbox_ext_state *)0)->name))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    json_t *utf8 = json_stringn(name, n); /* NULL: not UTF-8 */
    bool ok = utf8 != NULL;
    json_decref(utf8);
    return ok;
}

enum MHD_Result rapi_ext_register(struct lbox_rapi *api, struct MHD_Connection *c,
                                  struct request *rq)
{
    const char *name = rapi_header(c, "Lambda-Extension-Name");
    if (!name || !*name)
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidExtensionName",
                                "Empty extension name");
    /* The name goes into log lines (a tab would forge their fields) and JSON records (which
     * take UTF-8 only), and is kept whole, so that two names are never taken for one. */
    if (!name_fits(name))
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidExtensionName",
                                "Extension name must be at most 63 bytes of UTF-8 without "
                                "control characters");
    json_error_t jerr;
    json_t *body = json_loadb(rq->body ? rq->body : "", rq->len, 0, &jerr);
    json_t *events = body ? json_object_get(body, "events") : NULL;
    json_t *keys = body ? json_object_get(body, "configurationKeys") : NULL;
    const char *bad = !json_is_object(body) ? "Registration body must be a JSON object"
                      : events && !json_is_array(events) ? "events must be an array"
                      : json_array_size(keys) ? "configurationKeys are deprecated; use "
                                                "environment variables instead"
                                              : NULL;
    if (bad) {
        json_decref(body);
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "InvalidRequestFormat", bad);
    }
    bool external = is_external(api, name), inv = false, shut = false;
    size_t i;
    json_t *ev;
    char msg[256];
    json_array_foreach(events, i, ev) {
        const char *s = json_string_value(ev);
        if (s && !strcmp(s, "INVOKE"))
            inv = true;
        else if (s && !strcmp(s, "SHUTDOWN") && external)
            shut = true;
        else {
            snprintf(msg, sizeof msg, "%.64s: %s", s ? s : "?",
                     s && !strcmp(s, "SHUTDOWN") ? "ShutdownEventNotSupportedForInternalExtension"
                                                 : "ErrorInvalidEventType");
            json_decref(body);
            return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidEventType", msg);
        }
    }
    json_decref(body);
    for (i = 0; i < api->st.n_ext; i++) {
        if (strcmp(api->st.ext[i].name, name) != 0)
            continue;
        if (!external)
            return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidExtensionState",
                                    "Extension with this name already registered");
        snprintf(msg, sizeof msg, "State transition from %s to Registered failed for extension "
                 "%.64s. Error: State transition is not allowed",
                 ext_phase_name(api->st.ext[i].phase), name);
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidExtensionState", msg);
    }
    char id[LBOX_ID_LEN];
    lbox_uuid4(id);
    enum lbox_rs_verdict v = lbox_rs_ext_register(&api->st, id, name, inv, shut);
    if (v == LBOX_RS_TOO_MANY_EXT)
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.TooManyExtensions",
                                "Extension limit (10) reached");
    if (v != LBOX_RS_OK)
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.RegistrationClosed",
                                "Extension registration closed already");
    rapi_wake(api);
    json_t *j = json_object();
    /* Asked for and known, the account comes first, where RAPID's answer has it. */
    if (api->account_id && *api->account_id && accepts_feature(c, "accountId"))
        json_object_set_new(j, "accountId", json_string(api->account_id));
    json_object_set_new(j, "functionName", json_string(api->function_name));
    json_object_set_new(j, "functionVersion", json_string(api->function_version));
    json_object_set_new(j, "handler", json_string(api->handler));
    char *s = rapi_json_line(j);
    if (!s)
        return MHD_NO;
    enum MHD_Result ret = rapi_reply_with(c, MHD_HTTP_OK, "application/json", s, strlen(s),
                                          "Lambda-Extension-Identifier", id);
    free(s);
    return ret;
}

static bool is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
            return false;
    }
    return s[36] == 0;
}

/* The identifier header, checked as RAPID's middleware does (present, a UUID); answers 403
 * and returns NULL otherwise. */
static const char *ext_id_header(struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *id = rapi_header(c, "Lambda-Extension-Identifier");
    if (!id || !*id) {
        *ret = rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.MissingExtensionIdentifier",
                           "Missing Lambda-Extension-Identifier header");
        return NULL;
    }
    if (!is_uuid(id)) {
        *ret = rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidExtensionIdentifier",
                           "Invalid Lambda-Extension-Identifier");
        return NULL;
    }
    return id;
}

/* The extension a well-formed identifier names, or a 403 saying it is unknown (NULL). */
static struct lbox_ext_state *ext_of(struct lbox_rapi *api, struct MHD_Connection *c,
                                     const char *id, const char *unknown_msg,
                                     enum MHD_Result *ret)
{
    struct lbox_ext_state *e = lbox_rs_ext_find(&api->st, id);
    if (!e)
        *ret = rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.UnknownExtensionIdentifier",
                           unknown_msg);
    return e;
}

static enum MHD_Result deliver_ext_event(struct lbox_rapi *api, struct MHD_Connection *c,
                                         struct lbox_ext_state *e)
{
    const char *ev = e->shutdown ? api->ext_shutdown_event : api->ext_invoke_event;
    if (!ev)
        ev = "{}";
    struct MHD_Response *r =
        rapi_mhd->create_response_from_buffer(strlen(ev), (void *)ev, MHD_RESPMEM_MUST_COPY);
    /* As RAPID's renderers: an INVOKE event has an identifier and its JSON type; SHUTDOWN
     * has neither, and Go sends its type as sniffed from the JSON text. */
    if (e->shutdown) {
        rapi_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    } else {
        char eid[LBOX_ID_LEN];
        lbox_uuid4(eid);
        rapi_mhd->add_response_header(r, "Lambda-Extension-Event-Identifier", eid);
        rapi_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    enum MHD_Result ret = rapi_mhd->queue_response(c, MHD_HTTP_OK, r);
    rapi_mhd->destroy_response(r);
    rapi_wake(api);
    return ret;
}

enum MHD_Result rapi_ext_next(struct lbox_rapi *api, struct MHD_Connection *c, struct request *rq)
{
    if (rq->parked) {
        if (api->stopping || rq->generation != api->generation || rq->ext_index < 0 ||
            (size_t)rq->ext_index >= api->st.n_ext)
            return rapi_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalServerError",
                                    "Internal Server Error");
        struct lbox_ext_state *e = &api->st.ext[rq->ext_index];
        if (lbox_rs_ext_take(e) == LBOX_RS_DELIVER)
            return deliver_ext_event(api, c, e);
        return rapi_park(api, c, rq, &api->ext_parked[rq->ext_index]);
    }
    enum MHD_Result ret = MHD_NO;
    const char *id = ext_id_header(c, &ret);
    if (!id)
        return ret;
    char unknown[96];
    snprintf(unknown, sizeof unknown, "Unknown extension %s", id);
    struct lbox_ext_state *e = ext_of(api, c, id, unknown, &ret);
    if (!e)
        return ret;
    rq->ext_index = (int)(e - api->st.ext);
    if (api->ext_parked[rq->ext_index]) {
        /* It already waits on another connection: one event/next at a time. */
        char msg[160];
        snprintf(msg, sizeof msg, "State transition from Ready to Ready failed for extension "
                 "%s. Error: State transition is not allowed", e->id);
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.InvalidExtensionState", msg);
    }
    enum lbox_rs_verdict v = lbox_rs_ext_next(&api->st, e->id);
    rapi_wake(api);
    if (v == LBOX_RS_DELIVER)
        return deliver_ext_event(api, c, e);
    return rapi_park(api, c, rq, &api->ext_parked[rq->ext_index]);
}

enum MHD_Result rapi_ext_error(struct lbox_rapi *api, struct MHD_Connection *c, struct request *rq)
{
    (void)rq;
    enum MHD_Result ret = MHD_NO;
    const char *id = ext_id_header(c, &ret);
    if (!id)
        return ret;
    const char *type = rapi_header(c, "Lambda-Extension-Function-Error-Type");
    if (!type || !*type)
        return rapi_reply_error(c, MHD_HTTP_FORBIDDEN, "Extension.MissingHeader",
                                "Lambda-Extension-Function-Error-Type not found");
    struct lbox_ext_state *e = ext_of(api, c, id, "Unknown Lambda-Extension-Identifier", &ret);
    if (!e)
        return ret;
    /* Nothing ends yet: as in RAPID, the init fails when the extension exits (it never
     * becomes ready), and its exit is then called by the error it posted. */
    e->exit_type = rq->route == R_EXT_INIT_ERROR ? "Extension.InitError" : "Extension.ExitError";
    return rapi_reply_status_ok(c);
}

/* What RAPID answers where no telemetry service runs (AWS's emulator answers this always). */
static enum MHD_Result not_supported(struct MHD_Connection *c, enum lbox_telemetry_api which)
{
    return which == LBOX_LOGS_API
               ? rapi_reply_error(c, MHD_HTTP_ACCEPTED, "Logs.NotSupported",
                                  "Logs API is not supported")
               : rapi_reply_error(c, MHD_HTTP_ACCEPTED, "Telemetry.NotSupported",
                                  "Telemetry API is not supported");
}

/* Only a registered extension subscribes: the runtime has no identifier to give. The
 * subscription itself is made without the API's lock (which the caller holds): it may wait
 * for a TCP listener, while the runner must go on watching its deadlines. */
enum MHD_Result rapi_telemetry_subscribe(struct lbox_rapi *api, struct MHD_Connection *c,
                                         struct request *rq, enum lbox_telemetry_api which)
{
    if (!api->cfg.telemetry)
        return not_supported(c, which);
    enum MHD_Result ret = MHD_NO;
    const char *id = ext_id_header(c, &ret);
    if (!id)
        return ret;
    /* RAPID's subscription handler names the identifier it does not know. */
    char unknown[LBOX_ID_LEN + 32];
    snprintf(unknown, sizeof unknown, "Unknown extension %s", id);
    struct lbox_ext_state *e = ext_of(api, c, id, unknown, &ret);
    if (!e)
        return ret;
    /* As AWS's emulator: a subscription is at most 1 MiB. */
    if (rq->too_large || rq->len > (1u << 20))
        return rapi_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge",
                                "The subscription body is larger than 1 MiB");
    char name[sizeof e->name];
    snprintf(name, sizeof name, "%s", e->name);
    struct lbox_telemetry_answer a = {0};
    pthread_mutex_unlock(&api->lock);
    pthread_mutex_lock(&api->telemetry_lock);
    if (api->cfg.telemetry)
        lbox_telemetry_subscribe(api->cfg.telemetry, which, name, rq->body, rq->len, &a);
    pthread_mutex_unlock(&api->telemetry_lock);
    pthread_mutex_lock(&api->lock);
    if (!a.body) /* the environment is ending */
        return not_supported(c, which);
    ret = rapi_reply(c, a.status, a.content_type, a.body, strlen(a.body));
    free(a.body);
    return ret;
}

const char *lbox_rapi_extension_exit_type(struct lbox_rapi *api, const char *name)
{
    const char *type = "Extension.Crash";
    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->st.n_ext; i++)
        if (!strcmp(api->st.ext[i].name, name) && api->st.ext[i].exit_type)
            type = api->st.ext[i].exit_type;
    pthread_mutex_unlock(&api->lock);
    return type;
}

/* RAPID's name for where a registered extension stands (core/agentstate names). */
static const char *ext_state_name(const struct lbox_ext_state *e)
{
    if (e->exit_type)
        return !strcmp(e->exit_type, "Extension.InitError") ? "InitError" : "ExitError";
    switch (e->phase) {
    case LBOX_EXT_REGISTERED: return "Registered";
    case LBOX_EXT_READY: return "Ready";
    default: return "Running";
    }
}

static void put_extension_line(FILE *f, const char *name, const char *state,
                               const struct lbox_ext_state *e)
{
    bool invoke = e && e->wants_invoke, shutdown = e && e->wants_shutdown;
    fprintf(f, "EXTENSION\tName: %s\tState: %s\tEvents: [%s%s%s]\n", name, state,
            invoke ? "INVOKE" : "", invoke && shutdown ? ", " : "", shutdown ? "SHUTDOWN" : "");
}

char *lbox_rapi_extension_lines(struct lbox_rapi *api, const char *launch_failed)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    pthread_mutex_lock(&api->lock);
    /* External ones in the order they were started (up to the one that could not be),
     * then the internal ones, as RAPID lists its agents. */
    for (size_t i = 0; i < api->n_external; i++) {
        if (launch_failed && !strcmp(api->external[i], launch_failed))
            break;
        const struct lbox_ext_state *e = NULL;
        for (size_t k = 0; k < api->st.n_ext && !e; k++)
            if (!strcmp(api->st.ext[k].name, api->external[i]))
                e = &api->st.ext[k];
        put_extension_line(f, api->external[i], e ? ext_state_name(e) : "Started", e);
    }
    if (launch_failed)
        put_extension_line(f, launch_failed, "LaunchError", NULL);
    for (size_t k = 0; k < api->st.n_ext; k++)
        if (!is_external(api, api->st.ext[k].name))
            put_extension_line(f, api->st.ext[k].name, ext_state_name(&api->st.ext[k]),
                               &api->st.ext[k]);
    pthread_mutex_unlock(&api->lock);
    fclose(f);
    if (len == 0) {
        free(text);
        return NULL;
    }
    return text;
}

json_t *lbox_rapi_extension_records(struct lbox_rapi *api)
{
    json_t *all = json_array();
    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->st.n_ext; i++) {
        const struct lbox_ext_state *e = &api->st.ext[i];
        json_t *events = json_array();
        if (e->wants_invoke)
            json_array_append_new(events, json_string("INVOKE"));
        if (e->wants_shutdown)
            json_array_append_new(events, json_string("SHUTDOWN"));
        json_array_append_new(all, json_pack("{s:s, s:s, s:o}", "name", e->name, "state",
                                             ext_state_name(e), "events", events));
    }
    pthread_mutex_unlock(&api->lock);
    return all;
}

bool lbox_rapi_extension_wants_shutdown(struct lbox_rapi *api, const char *name)
{
    bool yes = false;
    pthread_mutex_lock(&api->lock);
    for (size_t i = 0; i < api->st.n_ext; i++)
        if (!strcmp(api->st.ext[i].name, name))
            yes = api->st.ext[i].wants_shutdown;
    pthread_mutex_unlock(&api->lock);
    return yes;
}
