/* One Lambda execution environment: created with its sandbox and Runtime API, initialised
 * on the first invoke (or ahead, --prewarm), invoked event after event, reset after a
 * timeout or a crash, and destroyed. Its processes are in env_processes.c, its log in
 * env_log.c. */
#include "environment.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "env_internal.h"
#include "env_vars.h"
#include "ids.h"
#include "log_stream.h"
#include "report.h"
#include "state.h"
#include "telemetry.h"
#include "sandbox/sandbox.h"

/* The sandbox's hostname: Lambda's environments answer with their link-local address, and
 * the host's own name stays outside. */
#define LAMBDA_HOSTNAME "169.254.100.1"

enum init_end { INIT_OK, INIT_FAILED, INIT_EXITED, INIT_EXT_FAILED, INIT_TIMED_OUT };

/* Why an init did not finish. */
struct init_failure {
    enum init_end end;
    struct lbox_rapi_result error;  /* INIT_FAILED: the /init/error */
    int wstatus;                    /* INIT_EXITED: how the runtime ended */
    double ms;                      /* how long the init ran (before any reset) */
    const char *ext_type;           /* INIT_EXT_FAILED: Extension.Crash or .LaunchError */
    char what[512];                 /* ... and what happened */
};

/* RAPID's message is how the extension ended, as Go's exec says it ("exit status 3",
 * "signal: killed"), and "exit code 0" for a clean exit. */
static void describe_crash(const struct lbox_env *env, char *what, size_t size)
{
    int wstatus = env->crashed_wstatus;
    if (wstatus == -1)
        snprintf(what, size, "extension %s exited", env->crashed_ext); /* pid 1 died too */
    else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        snprintf(what, size, "exit code 0");
    else
        lbox_describe_exit(wstatus, what, size);
}

/* What the invoke is to be told of a failed init, kept before the reset forgets it. */
static void note_init_failure(const struct lbox_env *env, struct init_failure *f,
                              const struct lbox_error *launch)
{
    f->wstatus = env->runtime_wstatus;
    f->ext_type = launch->msg[0] ? "Extension.LaunchError"
                                 : lbox_rapi_extension_exit_type(env->api, env->crashed_ext);
    if (launch->msg[0])
        snprintf(f->what, sizeof f->what, "%.*s", (int)sizeof f->what - 1, launch->msg);
    else
        describe_crash(env, f->what, sizeof f->what);
}

static enum init_end init_end_of(enum wait_end w, bool init_error)
{
    if (init_error)
        return INIT_FAILED; /* even when the runtime exited after posting it */
    switch (w) {
    case W_COND: return INIT_OK;
    case W_EXIT: return INIT_EXITED;
    case W_EXT_EXIT: return INIT_EXT_FAILED;
    default: return INIT_TIMED_OUT;
    }
}

static const char *init_error_type(const struct init_failure *f);

/* The Telemetry API's status of an init that ended so. */
static const char *init_status(enum init_end end)
{
    return end == INIT_OK ? "success" : end == INIT_TIMED_OUT ? "timeout" : "error";
}

/* phase: "init" (the environment's init phase) or "invoke" (an init inside an invoke). */
static int do_init(struct lbox_env *env, const char *phase, int64_t limit_ms,
                   struct init_failure *f, struct lbox_error *err)
{
    if (!strcmp(phase, "init") && env->runtime_version)
        env_emit(env, lbox_report_init_start(env->runtime_version, env->runtime_version_arn));
    env_tel_init_start(env, phase);
    int64_t start = now_ns(), deadline = start + limit_ms * 1000000;
    enum wait_end w;
    struct lbox_error launch = {0};
    if (env_start_processes(env, deadline, &w, &launch, err) < 0) {
        env_kill_runtime(env);
        return -1;
    }
    if (w == W_COND && !launch.msg[0])
        w = env_wait_for(env, env_init_over, deadline);
    env->init_ms = f->ms = (double)(now_ns() - start) / 1e6;
    f->end = launch.msg[0] ? INIT_EXT_FAILED
                           : init_end_of(w, lbox_rapi_take_init_error(env->api, &f->error));
    /* Lambda logs where each extension stands once the init is over, however it ended. */
    char *lines = lbox_rapi_extension_lines(env->api, launch.msg[0] ? env->launch_failed : NULL);
    env_drain_logs(env);
    if (lines)
        env_emit(env, lines);
    env_tel_init_end(env, phase, init_status(f->end), init_error_type(f), f->ms);
    if (f->end == INIT_OK) {
        env->initialized = true;
        return 0;
    }
    note_init_failure(env, f, &launch);
    env_reset(env, f->end == INIT_TIMED_OUT ? "timeout" : "failure");
    return 0;
}

/* The error type Lambda gives a failed init (INIT_REPORT, REPORT), NULL for a timeout. */
static const char *init_error_type(const struct init_failure *f)
{
    switch (f->end) {
    case INIT_FAILED: return lbox_platform_error_type(f->error.error_type);
    case INIT_EXITED: return "Runtime.ExitError";
    case INIT_EXT_FAILED: return f->ext_type;
    default: return NULL;
    }
}

/* Lambda's line for a failed init: in its init phase, or in the retry inside an invoke. */
static void init_report(struct lbox_env *env, const struct init_failure *f, const char *phase)
{
    const char *status = f->end == INIT_TIMED_OUT ? "timeout" : "error";
    env_emit(env, lbox_report_init_line(f->ms, phase, status, init_error_type(f)));
}

static int64_t init_limit_ms(const struct lbox_env *env)
{
    return env->qemu ? LBOX_INIT_LIMIT_EMULATED_MS : LBOX_INIT_LIMIT_MS;
}

/* A pipe for the function's output: the runner reads its end without blocking. */
static int output_pipe(int *rd, int *wr, const char *what, struct lbox_error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return lbox_err_errno(err, errno, "creating the %s pipe", what);
    *rd = fds[0];
    *wr = fds[1];
    fcntl(*rd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* The account id in a function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME), copied into
 * buf; "" when the ARN has none. The Runtime API tells it to extensions that ask. */
static const char *arn_account(const char *arn, char *buf, size_t size)
{
    const char *p = arn;
    for (int field = 0; field < 4 && p; field++) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    const char *end = p ? strchr(p, ':') : NULL;
    size_t n = end ? (size_t)(end - p) : 0;
    if (n >= size)
        n = 0;
    memcpy(buf, p ? p : "", n);
    buf[n] = 0;
    return buf;
}

/* The Runtime API's accept policy with the host's network (runtime_api.h, peer_ok). */
static bool peer_in_sandbox(void *ctx, const struct sockaddr *peer, socklen_t len)
{
    struct lbox_env *env = ctx;
    return len >= sizeof(struct sockaddr_in) && peer->sa_family == AF_INET &&
           lbox_sandbox_has_tcp_peer(env->sb, (const struct sockaddr_in *)peer, env->api_port);
}

/* ---- public ------------------------------------------------------------------------------- */

/* The Telemetry API delivers to extensions' listeners on the sandbox's 127.0.0.1. */
static int telemetry_socket(void *ctx)
{
    struct lbox_env *env = ctx;
    struct lbox_error ignored; /* the delivery says the batch was lost */
    return lbox_sandbox_tcp_socket(env->sb, &ignored);
}

int lbox_env_create(const struct lbox_env_config *cfg, struct lbox_env **out,
                    struct lbox_error *err)
{
    struct lbox_env *env = lbox_xcalloc(1, sizeof *env);
    env->cfg = *cfg;
    env->rootfs = lbox_xstrdup(cfg->rootfs);
    env->arch = lbox_xstrdup(cfg->arch ? cfg->arch : "x86_64");
    env->qemu = cfg->qemu_path ? lbox_xstrdup(cfg->qemu_path) : NULL;
    env->name = lbox_xstrdup(cfg->function_name ? cfg->function_name : "function");
    env->version = lbox_xstrdup(cfg->function_version ? cfg->function_version : "$LATEST");
    env->arn = lbox_xstrdup(cfg->function_arn ? cfg->function_arn : "");
    env->handler = lbox_xstrdup(cfg->handler ? cfg->handler : "index.handler");
    if (cfg->runtime_version && cfg->runtime_version_arn) {
        env->runtime_version = lbox_xstrdup(cfg->runtime_version);
        env->runtime_version_arn = lbox_xstrdup(cfg->runtime_version_arn);
    }
    env->log_rd = env->log_wr = env->tele_rd = env->tele_wr = env->ext_rd = env->ext_wr = -1;
    lbox_log_stream_init(&env->out, LBOX_LOG_LINES, env_log_from_stdout, env);
    lbox_log_stream_init(&env->tele, LBOX_LOG_FRAMES, env_log_from_telemetry, env);
    lbox_log_stream_on_records(&env->tele, env_console_record_data, env_console_record_end);
    lbox_log_stream_init(&env->ext_out, LBOX_LOG_LINES, env_log_from_extensions, env);
    for (char *const *e = cfg->envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char *k = strndup(*e, (size_t)(eq - *e));
        lbox_strv_set(&env->envp, k, eq + 1);
        free(k);
    }

    /* The writers' ends stay blocking: a console call returns once its record is in the
     * telemetry pipe, so every record is there before the answer that follows it. */
    if (output_pipe(&env->log_rd, &env->log_wr, "log", err) < 0 ||
        output_pipe(&env->tele_rd, &env->tele_wr, "telemetry log", err) < 0 ||
        output_pipe(&env->ext_rd, &env->ext_wr, "extensions' log", err) < 0)
        goto fail;

    struct lbox_sandbox_config sc = {
        .rootfs = env->rootfs, .tmp_size_mb = cfg->tmp_size_mb,
        .memory_mb = cfg->memory_mb + (env->qemu ? lbox_env_qemu_allowance_mb(cfg->memory_mb) : 0),
        .host_network = cfg->host_network, .listen_port = 9001, .arch = env->arch,
        .qemu_path = env->qemu, .hostname = LAMBDA_HOSTNAME,
    };
    int listen_fd = -1;
    if (lbox_sandbox_create(&sc, &env->sb, &listen_fd, err) < 0)
        goto fail;
    /* With the host's network the port may differ; tell the runtime where we really are. */
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    if (getsockname(listen_fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET) {
        char api_addr[32];
        snprintf(api_addr, sizeof api_addr, "127.0.0.1:%u", ntohs(a.sin_port));
        lbox_strv_set(&env->envp, "AWS_LAMBDA_RUNTIME_API", api_addr);
        env->api_port = ntohs(a.sin_port);
    }
    lbox_env_for_extensions(&env->envp, &env->ext_envp);
    /* The runtime's only: as on Lambda, extensions log through stdout. */
    lbox_strv_set(&env->envp, "_LAMBDA_TELEMETRY_LOG_FD", "3");

    const char *log_format = lbox_strv_get(&env->envp, "AWS_LAMBDA_LOG_FORMAT");
    env->telemetry = lbox_telemetry_new(telemetry_socket, env,
                                        log_format && !strcasecmp(log_format, "JSON"));
    char account[64];
    struct lbox_rapi_config rc = {
        .function_name = env->name, .function_version = env->version, .handler = env->handler,
        .account_id = arn_account(env->arn, account, sizeof account),
        .stream = cfg->stream, .stream_ctx = cfg->stream_ctx,
        /* On the host's loopback any local process could connect: only the sandbox's may. */
        .peer_ok = cfg->host_network ? peer_in_sandbox : NULL, .peer_ctx = env,
        .telemetry = env->telemetry,
    };
    if (lbox_rapi_start(listen_fd, &rc, &env->api, err) < 0)
        goto fail;
    *out = env;
    return 0;
fail:
    lbox_env_destroy(env);
    return -1;
}

/* The init phase ahead of any invoke. A failure is logged (INIT_REPORT); the first invoke
 * tries again inside itself, and that attempt's failure is its answer. */
int lbox_env_prewarm(struct lbox_env *env, struct lbox_error *err)
{
    if (env->init_phase_done)
        return 0;
    env->init_phase_done = true;
    struct init_failure f = {0};
    if (do_init(env, "init", init_limit_ms(env), &f, err) < 0)
        return -1;
    if (f.end != INIT_OK)
        init_report(env, &f, "init");
    lbox_rapi_result_free(&f.error);
    return 0;
}

void lbox_invoke_result_free(struct lbox_invoke_result *res)
{
    free(res->payload);
    free(res->content_type);
    free(res->error_type);
    res->payload = res->content_type = res->error_type = NULL;
}

static void set_error(struct lbox_invoke_result *res, enum lbox_invoke_status status,
                      const char *type, const char *msg)
{
    json_t *j = json_pack("{s:s,s:s}", "errorMessage", msg, "errorType", type);
    res->payload = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    res->len = strlen(res->payload);
    res->content_type = lbox_xstrdup("application/json");
    res->error_type = lbox_xstrdup(type);
    res->status = status;
}

/* An error the platform finds (RAPID's "RequestId: <id> Error: <what>"), which Lambda also
 * logs, followed by its type. */
static void set_platform_error(struct lbox_env *env, struct lbox_invoke_result *res,
                               const char *type, const char *what)
{
    char msg[640];
    snprintf(msg, sizeof msg, "RequestId: %s Error: %.560s", res->request_id, what);
    set_error(res, LBOX_INVOKE_FUNCTION_ERROR, type, msg);
    env_emit(env, lbox_strdupf("%s\n%s\n", msg, type));
    res->report_status = "error";
    snprintf(res->report_error_type, sizeof res->report_error_type, "%s", type);
}

static void set_exit_error(struct lbox_env *env, struct lbox_invoke_result *res, int wstatus)
{
    char how[64], what[128];
    lbox_describe_exit(wstatus, how, sizeof how);
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        snprintf(what, sizeof what, "Runtime exited without providing a reason");
    else
        snprintf(what, sizeof what, "Runtime exited with error: %s", how);
    set_platform_error(env, res, "Runtime.ExitError", what);
    res->runtime_killed = WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL;
}

static void take_answer(struct lbox_invoke_result *res, struct lbox_rapi_result *r)
{
    res->status = r->kind == LBOX_RESULT_RESPONSE ? LBOX_INVOKE_OK : LBOX_INVOKE_FUNCTION_ERROR;
    res->payload = r->body ? r->body : lbox_xstrdup("");
    res->len = r->len;
    res->content_type = r->content_type;
    res->streamed = r->streamed;
    res->error_type = r->error_type;
    res->answer_at = r->answer_at;
    res->answer_ns = r->answer_ns;
    res->answer_ms = r->answer_ms;
    res->produced_bytes = r->produced;
    if (res->status == LBOX_INVOKE_FUNCTION_ERROR && !res->error_type) {
        json_t *j = json_loadb(res->payload, res->len, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "errorType"));
        res->error_type = lbox_xstrdup(t ? t : "Unhandled");
        json_decref(j);
    }
    memset(r, 0, sizeof *r);
}

/* The invoke's REPORT figures. */
static struct lbox_report report_of(const struct lbox_env *env,
                                    const struct lbox_invoke_result *res, uint64_t peak,
                                    double timed_out_after)
{
    return (struct lbox_report){
        .request_id = res->request_id, .duration_ms = res->duration_ms,
        .memory_mb = env->cfg.memory_mb, .max_memory_bytes = peak,
        .init_duration_ms = res->init_duration_ms, .status = res->report_status,
        .error_type = res->report_error_type[0] ? res->report_error_type : NULL,
        .billed_cap_ms = timed_out_after > 0 ? (uint64_t)env->cfg.timeout_s * 1000 : 0};
}

/* Takes the invoke's figures (duration and memory, when the invoke ends, before a reset's
 * shutdown), and tells the Telemetry API that it ended: now, before a reset's SHUTDOWN ends
 * the extensions that would hear it, as the function's last lines. */
static void measure(struct lbox_env *env, struct lbox_invoke_result *res, int64_t started,
                    double timed_out_after, uint64_t *peak)
{
    res->duration_ms = timed_out_after > 0 ? timed_out_after * 1000
                                           : (double)(now_ns() - started) / 1e6;
    *peak = lbox_sandbox_memory_peak(env->sb);
    /* Lambda never reports more than the function has. The peak RSS of one that runs out
     * of memory passes the limit by pages no cgroup charges (the node binary's) and, with
     * the RSS watch, by what grew between two samples: the enforcement's, not the
     * function's. Under QEMU the figure includes the emulator's own memory, which has an
     * allowance past the limit (README), so it is left whole. */
    uint64_t limit = (uint64_t)env->cfg.memory_mb << 20;
    /* A runtime SIGKILLed at its memory limit was killed for memory (cgroup, the /tmp-aware
     * watch, or pid 1's RSS watch): Lambda's REPORT calls that Runtime.OutOfMemory. The
     * invoker's answer stays Runtime.ExitError "signal: killed". */
    if (res->runtime_killed && !strcmp(res->report_error_type, "Runtime.ExitError") &&
        *peak >= limit / 100 * 95)
        snprintf(res->report_error_type, sizeof res->report_error_type, "Runtime.OutOfMemory");
    if (!env->qemu && limit && *peak > limit)
        *peak = limit;
    res->max_memory_mb = lbox_memory_used_mb(*peak);
    env_drain_logs(env);
    struct lbox_report rep = report_of(env, res, *peak, timed_out_after);
    env_tel_invoke_end(env, res, lbox_report_billed_ms(&rep));
}

static void report(struct lbox_env *env, struct lbox_invoke_result *res, uint64_t peak,
                   double timed_out_after)
{
    env_drain_logs(env);
    env_emit(env, lbox_report_end(res->request_id));
    struct lbox_report rep = report_of(env, res, peak, timed_out_after);
    env_emit(env, lbox_report_line(&rep));
    if (timed_out_after > 0)
        env_emit(env, lbox_report_timeout_line(res->request_id, timed_out_after));
}

static void finish(struct lbox_env *env, struct lbox_invoke_result *res, int64_t started,
                   double timed_out_after)
{
    uint64_t peak;
    measure(env, res, started, timed_out_after, &peak);
    report(env, res, peak, timed_out_after);
}

static void timeout_result(struct lbox_invoke_result *res, double seconds)
{
    char msg[128];
    snprintf(msg, sizeof msg, "RequestId: %s Error: Task timed out after %.2f seconds",
             res->request_id, seconds);
    set_error(res, LBOX_INVOKE_TIMEOUT, "Sandbox.Timedout", msg);
    res->report_status = "timeout";
}

/* A runtime or extension that died since the last invoke (an uncaught exception exits after
 * posting its error) fails the environment, which is reset before this invoke. A warm
 * runtime takes the next event only once it is back in /next, and it must be back by the
 * last invoke's deadline, as on Lambda, where an invoke lasts until then: one that
 * answered and never asked again has timed out, and the environment is reset. */
static void reset_if_failed(struct lbox_env *env)
{
    if (!env->running)
        return;
    bool failed = env_runtime_gone(env) || env_extension_crashed(env);
    const char *why = "failure";
    if (!failed && env->initialized) {
        enum wait_end w = env_wait_for(env, env_runtime_waiting, env->last_deadline_ns);
        failed = w != W_COND;
        if (w == W_TIMEOUT)
            why = "timeout";
    }
    if (failed)
        env_reset(env, why);
}

/* Initialises when needed, as Lambda does. The environment's first init is its init phase
 * (the 10 s limit; its time is the cold start's Init Duration). Every later init (after a
 * failure, a timeout or a failed first one) runs inside the invoke, against its timeout
 * ("suppressed init"): its time is part of the invoke's Duration, and its failure the
 * invoke's answer. A failed init is logged as Lambda does (INIT_REPORT). */
static int init_for_invoke(struct lbox_env *env, struct lbox_invoke_result *res,
                           struct init_failure *f, int64_t *invoke_start, bool *suppressed,
                           struct lbox_error *err)
{
    f->end = INIT_OK;
    if (env->initialized)
        return 0;
    if (!env->init_phase_done) {
        env->init_phase_done = true;
        if (do_init(env, "init", init_limit_ms(env), f, err) < 0)
            return -1;
        if (f->end == INIT_OK) {
            res->init_duration_ms = env->init_ms;
            return 0;
        }
        init_report(env, f, "init");
        lbox_rapi_result_free(&f->error);
        memset(f, 0, sizeof *f);
    }
    *suppressed = true;
    *invoke_start = now_ns();
    /* Under QEMU an init takes seconds (node alone ~2 s), which a 3 s timeout would turn
     * into Sandbox.Timedout and hide a broken init's own error: there it has the emulated
     * init limit, and the function's timeout starts after it. */
    int64_t limit_ms = (int64_t)env->cfg.timeout_s * 1000;
    if (env->qemu && limit_ms < init_limit_ms(env))
        limit_ms = init_limit_ms(env);
    if (do_init(env, "invoke", limit_ms, f, err) < 0)
        return -1;
    if (env->qemu && f->end == INIT_OK)
        *invoke_start = now_ns();
    if (f->end != INIT_OK && f->end != INIT_TIMED_OUT) /* a timeout is the invoke's own */
        init_report(env, f, "invoke");
    return 0;
}

/* The invoke's answer when its init failed. A timed-out init is the suppressed one, which
 * ran as this invoke. */
static void init_failure_result(struct lbox_env *env, struct lbox_invoke_result *res,
                                struct init_failure *f, int64_t invoke_start)
{
    double secs = 0;
    if (f->end == INIT_FAILED) {
        /* The answer is the error the runtime posted; the log names only its type. */
        const char *type = init_error_type(f);
        res->report_status = "error";
        snprintf(res->report_error_type, sizeof res->report_error_type, "%s", type);
        env_emit(env, lbox_strdupf("Unknown application error occurred\n%s\n", type));
        f->error.kind = LBOX_RESULT_ERROR;
        take_answer(res, &f->error);
    } else if (f->end == INIT_EXITED) {
        set_exit_error(env, res, f->wstatus);
    } else if (f->end == INIT_EXT_FAILED) {
        set_platform_error(env, res, f->ext_type, f->what);
    } else {
        secs = f->ms / 1e3;
        timeout_result(res, secs);
    }
    finish(env, res, invoke_start, secs);
}

/* The invoke's answer after a wait that did not end with it: the runtime or an extension
 * failed (the environment is reset with "failure"), or the time ran out ("timeout"). */
static void failed_invoke_result(struct lbox_env *env, struct lbox_invoke_result *res,
                                 enum wait_end w, int64_t invoke_start)
{
    struct lbox_rapi_result r = {0};
    bool answered = lbox_rapi_take_result(env->api, &r);
    double secs = w == W_TIMEOUT ? (double)(now_ns() - invoke_start) / 1e9 : 0;
    if (w == W_TIMEOUT) {
        lbox_rapi_result_free(&r);
        timeout_result(res, secs);
    } else if (answered) {
        take_answer(res, &r); /* what the runtime posted before it (or the extension) went */
    } else if (w == W_EXIT) {
        set_exit_error(env, res, env->runtime_wstatus);
    } else {
        char what[128];
        describe_crash(env, what, sizeof what);
        set_platform_error(env, res, lbox_rapi_extension_exit_type(env->api, env->crashed_ext),
                           what);
    }
    uint64_t peak;
    measure(env, res, invoke_start, secs, &peak);
    env_reset(env, w == W_TIMEOUT ? "timeout" : "failure");
    report(env, res, peak, secs);
}

/* Ends an invoke the runtime answered. Lambda's invoke ends only when the runtime asks for
 * the next event: what the function logs after its answer (a callback's caller going on, a
 * streaming handler after its stream's end) belongs to the invoke, before END, and counts
 * in its Duration. After an error the runtime may exit instead (the runtime client does
 * after an uncaught exception), which fails this invoke's environment (SHUTDOWN
 * "failure"), the answer staying the function's. */
static void answered_invoke_result(struct lbox_env *env, struct lbox_invoke_result *res,
                                   int64_t invoke_start, int64_t deadline_ns)
{
    enum wait_end w = env_wait_for(env, env_runtime_waiting, deadline_ns);
    uint64_t peak;
    measure(env, res, invoke_start, 0, &peak);
    if (w == W_EXIT || w == W_EXT_EXIT)
        env_reset(env, "failure");
    else if (w == W_TIMEOUT) /* answered and never asked for the next event */
        env_reset(env, "timeout");
    report(env, res, peak, 0);
}

int lbox_env_invoke(struct lbox_env *env, const struct lbox_invoke_request *req,
                    struct lbox_invoke_result *res, struct lbox_error *err)
{
    memset(res, 0, sizeof *res);
    res->init_duration_ms = -1;
    if (req->len > LBOX_MAX_EVENT_BYTES)
        return lbox_err(err, LBOX_E_LIMIT,
                        "Request must be smaller than 6291456 bytes for the InvokeFunction "
                        "operation (the event has %zu bytes)",
                        req->len);
    lbox_uuid4(res->request_id);
    int64_t timeout_ns = (int64_t)env->cfg.timeout_s * 1000000000;
    int64_t invoke_start = now_ns();

    reset_if_failed(env);
    struct init_failure f = {0};
    bool suppressed = false;
    if (init_for_invoke(env, res, &f, &invoke_start, &suppressed, err) < 0)
        return -1;

    env_drain_logs(env);
    lbox_log_stream_resync(&env->tele);
    env_emit(env, lbox_report_start(res->request_id, env->version));
    char trace[96];
    if (!req->trace_id)
        lbox_trace_id(trace, sizeof trace);
    env_tel_start(env, res->request_id, req->trace_id ? req->trace_id : trace);
    if (!suppressed)
        invoke_start = now_ns();
    if (f.end != INIT_OK) {
        init_failure_result(env, res, &f, invoke_start);
        return 0;
    }

    int64_t deadline_ns = invoke_start + timeout_ns;
    env->last_deadline_ns = deadline_ns;
    struct lbox_rapi_invoke inv = {
        .request_id = res->request_id, .event = req->payload, .event_len = req->len,
        .deadline_ms = epoch_ms() + (deadline_ns - now_ns()) / 1000000,
        .function_arn = env->arn, .trace_id = req->trace_id ? req->trace_id : trace,
        .client_context = req->client_context, .cognito_identity = req->cognito_identity,
    };
    clock_gettime(CLOCK_REALTIME, &res->invoke_at);
    res->invoke_ns = now_ns();
    if (lbox_rapi_queue(env->api, &inv, err) < 0) {
        env_kill_runtime(env);
        return -1;
    }
    enum wait_end w = env_wait_for(env, env_invoke_over, deadline_ns);
    struct lbox_rapi_result r = {0};
    if (w == W_COND && lbox_rapi_take_result(env->api, &r)) {
        take_answer(res, &r);
        answered_invoke_result(env, res, invoke_start, deadline_ns);
    } else {
        failed_invoke_result(env, res, w == W_COND ? W_TIMEOUT : w, invoke_start);
    }
    /* Only now, with a runtime past its deadline killed: this waits for a write of the
     * stream's that a slow reader of stdout holds up. */
    lbox_rapi_end_stream(env->api);
    return 0;
}

const char *lbox_env_memory_mode(struct lbox_env *env)
{
    return env->sb ? lbox_sandbox_memory_mode(env->sb) : "no sandbox";
}

static void destroy(struct lbox_env *env, bool exiting)
{
    if (!env)
        return;
    if (env->sb && env->api) {
        /* A runtime or extension that died after the last invoke failed the environment. */
        bool failed = env->running && (env_runtime_gone(env) || env_extension_crashed(env));
        env_shut_down(env, failed ? "failure" : "spindown");
    }
    /* Its deliveries need the sandbox: they end first (what is left was flushed above). */
    lbox_rapi_stop_telemetry(env->api);
    lbox_telemetry_free(env->telemetry);
    env->telemetry = NULL;
    if (exiting) {
        /* The sandbox is killed last: its processes' exits (unmapping a node heap) then
         * run after ours instead of competing with it for the CPU. Output still flowing
         * on stdout (process.stdout.write queues what a full pipe does not take, and
         * sends it on after the answer) gets up to a second to arrive, as long as it
         * keeps coming; a quiet stdout costs no wait. The console records are all in
         * already: they are written before the answer. */
        env_drain_logs(env);
        int64_t start = now_ns();
        bool flowing = env->out_seen_ns && start - env->out_seen_ns < 100 * 1000000;
        while (flowing && now_ns() - start < 1000000000) {
            struct pollfd p = {.fd = env->log_rd, .events = POLLIN};
            flowing = poll(&p, 1, 20) > 0;
            env_drain_logs(env);
        }
        lbox_rapi_stop(env->api);
        lbox_sandbox_abandon(env->sb);
    } else {
        if (env->sb)
            lbox_sandbox_destroy(env->sb);
        env_drain_logs(env);
        lbox_rapi_stop(env->api);
    }
    env_end_log_line(env);
    lbox_log_stream_free(&env->out);
    lbox_log_stream_free(&env->tele);
    lbox_log_stream_free(&env->ext_out);
    for (size_t i = 0; i < sizeof env->tele_lines / sizeof *env->tele_lines; i++)
        free(env->tele_lines[i].buf);
    int fds[] = {env->log_rd, env->log_wr, env->tele_rd, env->tele_wr, env->ext_rd, env->ext_wr};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    env_forget_extensions(env);
    for (size_t i = 0; i < env->n_ext_names; i++)
        free(env->ext_names[i]);
    free(env->ext_names);
    lbox_strv_free(&env->envp);
    lbox_strv_free(&env->ext_envp);
    free(env->rootfs);
    free(env->arch);
    free(env->qemu);
    free(env->name);
    free(env->version);
    free(env->arn);
    free(env->runtime_version);
    free(env->runtime_version_arn);
    free(env->handler);
    free(env);
}

void lbox_env_destroy(struct lbox_env *env)
{
    destroy(env, false);
}

void lbox_env_destroy_before_exit(struct lbox_env *env)
{
    destroy(env, true);
}
