/* The environment's platform events for the Telemetry API (telemetry.h), with the fields of
 * Lambda's Telemetry API schema reference: init start and end, one event per extension,
 * invoke start, the runtime's end of it, and the report; and for the older Logs API, its
 * own: one per extension, start, fault, runtimeDone, end and report. Nothing is built when
 * no extension subscribed or can still subscribe. */
#include "env_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "telemetry.h"

static const char *initialization_type(const struct lbox_env *env)
{
    const char *t = lbox_strv_get(&env->envp, "AWS_LAMBDA_INITIALIZATION_TYPE");
    return t ? t : "on-demand";
}

/* Sets "errorType" when there is one (Lambda leaves it out on success). */
static json_t *with_error(json_t *record, const char *error_type)
{
    if (record && error_type && *error_type)
        json_object_set_new(record, "errorType", json_string(error_type));
    return record;
}

/* Whether the image has extensions (which can subscribe): only then are the init's events
 * kept for them, so that an image without costs no more than it did. */
static bool has_extensions(struct lbox_env *env)
{
    size_t n;
    env_extensions(env, &n);
    return n > 0;
}

void env_tel_init_start(struct lbox_env *env, const char *phase)
{
    lbox_telemetry_init_start(env->telemetry, has_extensions(env));
    if (!lbox_telemetry_wanted(env->telemetry))
        return;
    json_t *record = json_pack("{s:s, s:s, s:s, s:s}", "initializationType",
                               initialization_type(env), "phase", phase, "functionName",
                               env->name, "functionVersion", env->version);
    if (env->runtime_version) {
        json_object_set_new(record, "runtimeVersion", json_string(env->runtime_version));
        json_object_set_new(record, "runtimeVersionArn", json_string(env->runtime_version_arn));
    }
    lbox_telemetry_platform(env->telemetry, "platform.initStart", record);
}

void env_tel_init_end(struct lbox_env *env, const char *phase, const char *status,
                      const char *error_type, double ms)
{
    if (lbox_telemetry_wanted(env->telemetry)) {
        const char *type = initialization_type(env);
        lbox_telemetry_platform(env->telemetry, "platform.initRuntimeDone",
                                with_error(json_pack("{s:s, s:s, s:s}", "initializationType",
                                                     type, "phase", phase, "status", status),
                                           error_type));
        json_t *ext = lbox_rapi_extension_records(env->api);
        size_t i;
        json_t *e;
        json_array_foreach(ext, i, e) {
            lbox_telemetry_platform(env->telemetry, "platform.extension", json_incref(e));
            lbox_telemetry_logs_platform(env->telemetry, "platform.extension", json_incref(e));
        }
        json_decref(ext);
        lbox_telemetry_platform(env->telemetry, "platform.initReport",
                                with_error(json_pack("{s:s, s:s, s:s, s:{s:f}}",
                                                     "initializationType", type, "phase",
                                                     phase, "status", status, "metrics",
                                                     "durationMs", ms),
                                           error_type));
    }
    lbox_telemetry_init_over(env->telemetry);
}

void env_tel_start(struct lbox_env *env, const char *request_id, const char *trace_id)
{
    if (!lbox_telemetry_wanted(env->telemetry))
        return;
    json_t *r = json_pack("{s:s, s:s}", "requestId", request_id, "version", env->version);
    if (r && trace_id)
        json_object_set_new(r, "tracing", json_pack("{s:s, s:s}", "type", "X-Amzn-Trace-Id",
                                                    "value", trace_id));
    lbox_telemetry_platform(env->telemetry, "platform.start", r);
    lbox_telemetry_logs_platform(env->telemetry, "platform.start",
                                 json_pack("{s:s, s:s}", "requestId", request_id, "version",
                                           env->version));
}

/* The invoke's status as the Telemetry API says it: success, error (the function's error or
 * a failed environment), timeout, with the error's type. */
static const char *invoke_status(const struct lbox_invoke_result *res, const char **error)
{
    *error = res->report_error_type[0] ? res->report_error_type : NULL;
    if (res->report_status)
        return res->report_status;
    if (res->status == LBOX_INVOKE_OK)
        return "success";
    if (res->status == LBOX_INVOKE_TIMEOUT)
        return "timeout";
    if (!*error)
        *error = res->error_type;
    return "error";
}

/* A duration as the REPORT line shows it. */
static json_t *as_shown(json_t *ms)
{
    return json_real(lbox_report_shown_ms(json_number_value(ms)));
}

/* The Logs API's end of an invoke: platform.fault when the runtime died in it (Lambda's
 * words), platform.runtimeDone (success, failure or timeout: schema 2021-03-18 only),
 * platform.end, and platform.report with the REPORT line's figures. */
static void logs_api_invoke_end(struct lbox_env *env, const struct lbox_invoke_result *res,
                                json_t *metrics)
{
    struct lbox_telemetry *t = env->telemetry;
    if (!strcmp(res->report_error_type, "Runtime.ExitError") ||
        !strcmp(res->report_error_type, "Runtime.OutOfMemory")) {
        char fault[128];
        snprintf(fault, sizeof fault, "RequestId: %s Process exited before completing request",
                 res->request_id);
        lbox_telemetry_logs_platform(t, "platform.fault", json_string(fault));
    }
    const char *status = res->status == LBOX_INVOKE_OK        ? "success"
                         : res->status == LBOX_INVOKE_TIMEOUT ? "timeout"
                                                              : "failure";
    lbox_telemetry_logs_platform(t, "platform.runtimeDone",
                                 json_pack("{s:s, s:s}", "requestId", res->request_id,
                                           "status", status));
    lbox_telemetry_logs_platform(t, "platform.end",
                                 json_pack("{s:s}", "requestId", res->request_id));
    json_t *m = json_deep_copy(metrics);
    if (json_object_get(m, "durationMs"))
        json_object_set_new(m, "durationMs", as_shown(json_object_get(m, "durationMs")));
    if (json_object_get(m, "initDurationMs"))
        json_object_set_new(m, "initDurationMs", as_shown(json_object_get(m, "initDurationMs")));
    lbox_telemetry_logs_platform(t, "platform.report",
                                 json_pack("{s:s, s:o}", "requestId", res->request_id,
                                           "metrics", m));
}

static json_t *span(const char *name, const struct timespec *start, double ms)
{
    char at[40];
    lbox_telemetry_time_of(start, at, sizeof at);
    return json_pack("{s:s, s:s, s:f}", "name", name, "start", at, "durationMs", ms);
}

/* runtimeDone's spans, as Lambda's: from the event's hand-over to the first byte of the
 * runtime's answer (responseLatency), and from there to its last (responseDuration). None
 * when the runtime did not answer. */
static json_t *answer_spans(const struct lbox_invoke_result *res)
{
    json_t *spans = json_array();
    if (!res->answer_ns || !res->invoke_ns)
        return spans;
    double latency = (double)(res->answer_ns - res->invoke_ns) / 1e6;
    json_array_append_new(spans, span("responseLatency", &res->invoke_at,
                                      latency > 0 ? latency : 0));
    json_array_append_new(spans, span("responseDuration", &res->answer_at, res->answer_ms));
    return spans;
}

/* platform.runtimeDone, then platform.report (its metrics as REPORT's figures), for each
 * API. */
void env_tel_invoke_end(struct lbox_env *env, const struct lbox_invoke_result *res,
                        uint64_t billed_ms)
{
    if (!lbox_telemetry_wanted(env->telemetry))
        return;
    const char *error;
    const char *status = invoke_status(res, &error);
    lbox_telemetry_platform(
        env->telemetry, "platform.runtimeDone",
        with_error(json_pack("{s:s, s:s, s:{s:f, s:I}, s:o}", "requestId", res->request_id,
                             "status", status, "metrics", "durationMs", res->duration_ms,
                             "producedBytes", (json_int_t)res->produced_bytes, "spans",
                             answer_spans(res)),
                   error));
    json_t *metrics = json_pack("{s:f, s:I, s:I, s:I}", "durationMs", res->duration_ms,
                                "billedDurationMs", (json_int_t)billed_ms, "memorySizeMB",
                                (json_int_t)env->cfg.memory_mb, "maxMemoryUsedMB",
                                (json_int_t)res->max_memory_mb);
    if (metrics && res->init_duration_ms >= 0)
        json_object_set_new(metrics, "initDurationMs", json_real(res->init_duration_ms));
    logs_api_invoke_end(env, res, metrics);
    lbox_telemetry_platform(env->telemetry, "platform.report",
                            with_error(json_pack("{s:s, s:s, s:o}", "requestId",
                                                 res->request_id, "status", status, "metrics",
                                                 metrics),
                                       error));
}
