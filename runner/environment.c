#include "environment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "env_vars.h"
#include "ids.h"
#include "log_stream.h"
#include "report.h"
#include "sandbox/sandbox.h"

#define SHUTDOWN_BUDGET_MS 2000

struct lbox_env {
    struct lbox_env_config cfg;
    char *rootfs, *arch, *qemu, *name, *version, *arn, *handler;
    struct lbox_strv envp, ext_envp;
    struct lbox_sandbox *sb;
    struct lbox_rapi *api;
    /* The function's output: stdout and stderr of every process (one pipe), and the
     * runtime's console records, written synchronously to its telemetry pipe (fd 3). */
    int log_rd, log_wr, tele_rd, tele_wr;
    struct lbox_log_stream out, tele;
    int64_t out_seen_ns;    /* when stdout last gave output */
    /* Where the log (one output for both streams and the platform lines) stands: which
     * source wrote last (0 lbox, 1 stdout, 2 telemetry), and whether it left a line open. */
    int log_src;
    bool log_mid_line;
    bool running;           /* a runtime process was started and not killed */
    bool initialized;       /* ... and finished its init */
    bool ever_initialized;  /* Init Duration is reported once, on the cold start */
    double init_ms;         /* last init's duration */
    /* An init failure found by --prewarm, returned to the first invoke. */
    bool prewarm_failed;
    struct lbox_rapi_result prewarm_error;
    int prewarm_wstatus;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every write to the log: a source that takes over from another one that left a line
 * open starts a new line, so that output of one never lands inside a line of the other. */
static void log_from(struct lbox_env *env, int src, const char *data, size_t len)
{
    if (len == 0 || !env->cfg.log)
        return;
    if (env->log_mid_line && env->log_src != src)
        env->cfg.log(env->cfg.log_ctx, "\n", 1);
    env->cfg.log(env->cfg.log_ctx, data, len);
    env->log_src = src;
    env->log_mid_line = data[len - 1] != '\n';
}

static void from_stdout(void *ctx, const char *data, size_t len) { log_from(ctx, 1, data, len); }
static void from_telemetry(void *ctx, const char *data, size_t len) { log_from(ctx, 2, data, len); }

/* Passes on the streams' unfinished lines and ends the log's line, if open. */
static void end_log_line(struct lbox_env *env)
{
    lbox_log_stream_flush(&env->out);
    lbox_log_stream_flush(&env->tele);
    if (env->log_mid_line)
        log_from(env, env->log_src, "\n", 1);
}

/* A platform line (START, END, REPORT, ...) starts a line of its own. */
static void emit(struct lbox_env *env, char *line)
{
    end_log_line(env);
    log_from(env, 0, line, strlen(line));
    free(line);
}

/* Reads what one pipe holds, up to 4 MB; true if it held anything. */
static bool drain_pipe(int fd, struct lbox_log_stream *ls)
{
    char buf[65536];
    bool any = false;
    for (int i = 0; fd >= 0 && i < 64; i++) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break; /* EAGAIN: all read */
        lbox_log_stream_feed(ls, buf, (size_t)n);
        any = true;
    }
    return any;
}

/* Passes on the function's output. The console records come first: the runtime wrote them
 * before it answered, so they belong before END; a record cut by the 4 MB bound gets a
 * moment to finish before stdout has its turn (never more: a fake header on fd 3 must not
 * stop stdout). Bounded, so a function that never stops writing cannot keep the runner
 * from looking at its deadline. */
static bool drain_logs(struct lbox_env *env)
{
    bool any = drain_pipe(env->tele_rd, &env->tele);
    for (int i = 0; i < 4 && lbox_log_stream_mid_record(&env->tele); i++) {
        struct pollfd p = {.fd = env->tele_rd, .events = POLLIN};
        if (poll(&p, 1, 5) <= 0) /* the runtime writes header and message back to back */
            break;
        any |= drain_pipe(env->tele_rd, &env->tele);
    }
    if (drain_pipe(env->log_rd, &env->out)) {
        env->out_seen_ns = now_ns();
        any = true;
    }
    return any;
}

enum wait_end { W_COND, W_EXIT, W_TIMEOUT };

typedef bool (*status_pred)(const struct lbox_rapi_status *st);
static bool init_over(const struct lbox_rapi_status *st) { return st->init_done || st->init_error; }
static bool invoke_over(const struct lbox_rapi_status *st) { return st->invoke_done; }
static bool extensions_idle(const struct lbox_rapi_status *st) { return st->extensions_idle; }
static bool runtime_waiting(const struct lbox_rapi_status *st) { return st->runtime_waiting; }

/* Waits until pred holds, the runtime exits, or the deadline passes, forwarding the
 * function's output meanwhile. */
static enum wait_end wait_for(struct lbox_env *env, status_pred pred, int64_t deadline_ns,
                              int *wstatus)
{
    int exit_fd = lbox_sandbox_exit_fd(env->sb);
    for (;;) {
        drain_logs(env);
        lbox_rapi_clear_wait(env->api);
        struct lbox_rapi_status st;
        lbox_rapi_status(env->api, &st);
        if (pred(&st))
            return W_COND;
        struct lbox_error perr = {0};
        if (lbox_sandbox_poll_exit(env->sb, wstatus, &perr) == 1) {
            /* An answer posted just before exiting still counts. */
            lbox_rapi_status(env->api, &st);
            drain_logs(env);
            return pred(&st) ? W_COND : W_EXIT;
        }
        int64_t left = deadline_ns - now_ns();
        if (left <= 0)
            return W_TIMEOUT;
        int ms = (int)(left / 1000000) + 1;
        if (exit_fd < 0 && ms > 50)
            ms = 50; /* no exit fd: look at the process regularly */
        struct pollfd p[4] = {
            {.fd = lbox_rapi_wait_fd(env->api), .events = POLLIN},
            {.fd = env->log_rd, .events = POLLIN},
            {.fd = env->tele_rd, .events = POLLIN},
            {.fd = exit_fd, .events = POLLIN},
        };
        poll(p, exit_fd >= 0 ? 4 : 3, ms);
    }
}

/* ---- starting and stopping the runtime ---------------------------------------------------- */

/* tele_fd: the telemetry pipe for the runtime, -1 for an extension. */
static int exec_in_sandbox(struct lbox_env *env, const char *path, char *const *envp,
                           int tele_fd, struct lbox_error *err)
{
    const char *argv[] = {path, NULL};
    pid_t pid;
    return lbox_sandbox_exec_fd3(env->sb, argv, (const char *const *)envp, "/var/task",
                                 env->log_wr, env->log_wr, tele_fd, &pid, err);
}

static int filter_executable(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* External extensions: executables in /opt/extensions, started before the runtime. */
static int start_extensions(struct lbox_env *env, size_t *started, struct lbox_error *err)
{
    char *off = lbox_path_join(env->rootfs, "opt/disable-extensions-jwigqn8j");
    bool disabled = access(off, F_OK) == 0;
    free(off);
    if (disabled)
        return 0;
    char *dir = lbox_path_join(env->rootfs, "opt/extensions");
    struct dirent **names = NULL;
    int n = scandir(dir, &names, filter_executable, alphasort);
    const char **run = lbox_xcalloc(n > 0 ? (size_t)n : 1, sizeof *run);
    size_t n_run = 0;
    for (int i = 0; i < n; i++) {
        char *host = lbox_path_join(dir, names[i]->d_name);
        struct stat sb;
        if (stat(host, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0111))
            run[n_run++] = names[i]->d_name;
        free(host);
    }
    /* Known before they start: by name, they are the external extensions. */
    lbox_rapi_set_external_extensions(env->api, run, n_run);
    int r = 0;
    for (size_t i = 0; i < n_run && r == 0; i++) {
        char *inside = lbox_strdupf("/opt/extensions/%s", run[i]);
        r = exec_in_sandbox(env, inside, env->ext_envp.v, -1, err);
        if (r < 0)
            lbox_err_prefix(err, "starting extension %s", inside);
        else
            (*started)++;
        free(inside);
    }
    free(run);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return r;
}

/* The runtime's entry point: a managed Node.js runtime starts /var/runtime/bootstrap; an
 * image without one may bring its own (custom runtime order). */
static const char *bootstrap_path(struct lbox_env *env)
{
    static const char *const candidates[] = {"/var/runtime/bootstrap", "/var/task/bootstrap",
                                             "/opt/bootstrap"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char *host = lbox_path_join(env->rootfs, candidates[i] + 1);
        bool ok = access(host, F_OK) == 0;
        free(host);
        if (ok)
            return candidates[i];
    }
    return NULL;
}

/* Lambda's extension init comes before the runtime's: give every started extension the
 * chance to register (until the init deadline) before the runtime may ask for events. */
static void wait_registrations(struct lbox_env *env, size_t started, int64_t deadline_ns)
{
    for (;;) {
        drain_logs(env);
        lbox_rapi_clear_wait(env->api);
        struct lbox_rapi_status st;
        lbox_rapi_status(env->api, &st);
        int64_t left = deadline_ns - now_ns();
        if (st.n_extensions >= started || left <= 0)
            return;
        struct pollfd p[3] = {{.fd = lbox_rapi_wait_fd(env->api), .events = POLLIN},
                              {.fd = env->log_rd, .events = POLLIN},
                              {.fd = env->tele_rd, .events = POLLIN}};
        poll(p, 3, (int)(left / 1000000) + 1);
    }
}

static int start_runtime(struct lbox_env *env, int64_t deadline_ns, struct lbox_error *err)
{
    const char *boot = bootstrap_path(env);
    if (!boot)
        return lbox_err(err, LBOX_E_NOTFOUND,
                        "the image %s has no /var/runtime/bootstrap (nor /var/task/bootstrap, "
                        "/opt/bootstrap): rebuild it with `lbox build`",
                        env->rootfs);
    lbox_rapi_reset(env->api);
    lbox_sandbox_memory_peak_reset(env->sb);
    size_t started = 0;
    if (start_extensions(env, &started, err) < 0)
        return -1;
    if (started)
        wait_registrations(env, started, deadline_ns);
    if (exec_in_sandbox(env, boot, env->envp.v, env->tele_wr, err) < 0)
        return lbox_err_prefix(err, "starting %s", boot);
    env->running = true;
    env->initialized = false;
    return 0;
}

/* Lambda's reset: every process goes (SIGKILL), /tmp stays, the next invoke inits again. */
static void kill_runtime(struct lbox_env *env)
{
    struct lbox_error err = {0};
    if (env->running)
        lbox_sandbox_kill_procs(env->sb, &err);
    drain_logs(env);
    lbox_rapi_reset(env->api);
    env->running = false;
    env->initialized = false;
}

/* Gives extensions their SHUTDOWN and up to 2 s to finish with it. */
static void shutdown_extensions(struct lbox_env *env, const char *reason)
{
    struct lbox_rapi_status st;
    lbox_rapi_status(env->api, &st);
    if (!env->running || st.n_extensions == 0)
        return;
    lbox_rapi_shutdown(env->api, reason, epoch_ms() + SHUTDOWN_BUDGET_MS);
    int ws;
    /* They are idle again once they ask for another event after SHUTDOWN (or exit). */
    usleep(1000);
    wait_for(env, extensions_idle, now_ns() + (int64_t)SHUTDOWN_BUDGET_MS * 1000000, &ws);
}

enum init_end { INIT_OK, INIT_FAILED, INIT_EXITED, INIT_TIMED_OUT };

static int do_init(struct lbox_env *env, int64_t limit_ms, struct lbox_rapi_result *failure,
                   int *wstatus, enum init_end *end, struct lbox_error *err)
{
    int64_t start = now_ns(), deadline = start + limit_ms * 1000000;
    if (start_runtime(env, deadline, err) < 0)
        return -1;
    enum wait_end w = wait_for(env, init_over, deadline, wstatus);
    env->init_ms = (double)(now_ns() - start) / 1e6;
    if (w == W_COND && !lbox_rapi_take_init_error(env->api, failure)) {
        env->initialized = true;
        *end = INIT_OK;
        return 0;
    }
    if (w == W_EXIT && lbox_rapi_take_init_error(env->api, failure))
        w = W_COND;
    *end = w == W_COND ? INIT_FAILED : w == W_EXIT ? INIT_EXITED : INIT_TIMED_OUT;
    kill_runtime(env);
    return 0;
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

/* ---- public ------------------------------------------------------------------------------- */

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
    env->log_rd = env->log_wr = env->tele_rd = env->tele_wr = -1;
    lbox_log_stream_init(&env->out, LBOX_LOG_LINES, from_stdout, env);
    lbox_log_stream_init(&env->tele, LBOX_LOG_FRAMES, from_telemetry, env);
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
        output_pipe(&env->tele_rd, &env->tele_wr, "telemetry log", err) < 0)
        goto fail;

    struct lbox_sandbox_config sc = {
        .rootfs = env->rootfs, .tmp_size_mb = cfg->tmp_size_mb,
        .memory_mb = cfg->memory_mb + (env->qemu ? lbox_env_qemu_allowance_mb(cfg->memory_mb) : 0),
        .host_network = cfg->host_network, .listen_port = 9001, .arch = env->arch,
        .qemu_path = env->qemu, .hostname = NULL,
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
    }
    lbox_env_for_extensions(&env->envp, &env->ext_envp);
    /* The runtime's only: as on Lambda, extensions log through stdout. */
    lbox_strv_set(&env->envp, "_LAMBDA_TELEMETRY_LOG_FD", "3");

    char account[64];
    struct lbox_rapi_config rc = {
        .function_name = env->name, .function_version = env->version, .handler = env->handler,
        .account_id = arn_account(env->arn, account, sizeof account),
        .stream = cfg->stream, .stream_ctx = cfg->stream_ctx,
    };
    if (lbox_rapi_start(listen_fd, &rc, &env->api, err) < 0)
        goto fail;
    *out = env;
    return 0;
fail:
    lbox_env_destroy(env);
    return -1;
}

int lbox_env_prewarm(struct lbox_env *env, struct lbox_error *err)
{
    if (env->initialized || env->prewarm_failed)
        return 0;
    enum init_end end;
    memset(&env->prewarm_error, 0, sizeof env->prewarm_error);
    if (do_init(env, init_limit_ms(env), &env->prewarm_error, &env->prewarm_wstatus, &end,
                err) < 0)
        return -1;
    if (end == INIT_OK) {
        env->ever_initialized = true;
        return 0;
    }
    /* A timed-out pre-warm is retried by the first invoke, within its timeout ("suppressed
     * init"); a failed one is that invoke's answer. */
    if (end != INIT_TIMED_OUT) {
        env->prewarm_failed = true;
        if (end == INIT_EXITED)
            env->prewarm_error.kind = LBOX_RESULT_NONE;
    }
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

static void set_exit_error(struct lbox_env *env, struct lbox_invoke_result *res, int wstatus)
{
    char how[64], msg[256];
    lbox_describe_exit(wstatus, how, sizeof how);
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        snprintf(msg, sizeof msg, "RequestId: %s Error: Runtime exited without providing a reason",
                 res->request_id);
    else
        snprintf(msg, sizeof msg, "RequestId: %s Error: Runtime exited with error: %s",
                 res->request_id, how);
    set_error(res, LBOX_INVOKE_FUNCTION_ERROR, "Runtime.ExitError", msg);
    emit(env, lbox_strdupf("%s\nRuntime.ExitError\n", msg));
}

static void take_answer(struct lbox_invoke_result *res, struct lbox_rapi_result *r)
{
    res->status = r->kind == LBOX_RESULT_RESPONSE ? LBOX_INVOKE_OK : LBOX_INVOKE_FUNCTION_ERROR;
    res->payload = r->body ? r->body : lbox_xstrdup("");
    res->len = r->len;
    res->content_type = r->content_type;
    res->streamed = r->streamed;
    res->error_type = r->error_type;
    if (res->status == LBOX_INVOKE_FUNCTION_ERROR && !res->error_type) {
        json_t *j = json_loadb(res->payload, res->len, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "errorType"));
        res->error_type = lbox_xstrdup(t ? t : "Unhandled");
        json_decref(j);
    }
    memset(r, 0, sizeof *r);
}

static void finish(struct lbox_env *env, struct lbox_invoke_result *res, int64_t started,
                   double timed_out_after)
{
    res->duration_ms = timed_out_after > 0 ? timed_out_after * 1000
                                           : (double)(now_ns() - started) / 1e6;
    uint64_t peak = lbox_sandbox_memory_peak(env->sb);
    res->max_memory_mb = lbox_memory_used_mb(peak);
    drain_logs(env);
    emit(env, lbox_report_end(res->request_id));
    struct lbox_report rep = {.request_id = res->request_id, .duration_ms = res->duration_ms,
                              .memory_mb = env->cfg.memory_mb, .max_memory_bytes = peak,
                              .init_duration_ms = res->init_duration_ms};
    emit(env, lbox_report_line(&rep));
    if (timed_out_after > 0)
        emit(env, lbox_report_timeout_line(res->request_id, timed_out_after));
}

static void timeout_result(struct lbox_env *env, struct lbox_invoke_result *res, double seconds)
{
    char msg[128];
    snprintf(msg, sizeof msg, "RequestId: %s Error: Task timed out after %.2f seconds",
             res->request_id, seconds);
    set_error(res, LBOX_INVOKE_TIMEOUT, "Sandbox.Timedout", msg);
    (void)env;
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

    /* A runtime that died since the last invoke (an uncaught exception exits after posting
     * its error) is reset before this one. */
    int ws = 0;
    struct lbox_error perr = {0};
    if (env->running && lbox_sandbox_poll_exit(env->sb, &ws, &perr) == 1)
        kill_runtime(env);
    /* A warm runtime takes the next event only once it is back in /next; one that exits on
     * the way (a crash reported through /error first) is reset and initialised again. */
    if (env->initialized &&
        wait_for(env, runtime_waiting, invoke_start + timeout_ns, &ws) == W_EXIT)
        kill_runtime(env);

    struct lbox_rapi_result failure = {0};
    enum init_end end = INIT_OK;
    bool suppressed = false;
    if (env->prewarm_failed) {
        failure = env->prewarm_error;
        memset(&env->prewarm_error, 0, sizeof env->prewarm_error);
        ws = env->prewarm_wstatus;
        end = failure.kind != LBOX_RESULT_NONE ? INIT_FAILED : INIT_EXITED;
        env->prewarm_failed = false;
    } else if (!env->initialized) {
        bool cold = !env->ever_initialized;
        if (do_init(env, init_limit_ms(env), &failure, &ws, &end, err) < 0)
            return -1;
        if (end == INIT_TIMED_OUT) {
            /* Lambda retries an init that overran 10 s inside the invoke, against its
             * timeout. */
            suppressed = true;
            invoke_start = now_ns();
            if (do_init(env, env->cfg.timeout_s * 1000, &failure, &ws, &end, err) < 0)
                return -1;
        }
        if (end == INIT_OK) {
            if (cold && !suppressed)
                res->init_duration_ms = env->init_ms;
            env->ever_initialized = true;
        }
    }

    drain_logs(env);
    lbox_log_stream_resync(&env->tele);
    emit(env, lbox_report_start(res->request_id, env->version));
    if (!suppressed)
        invoke_start = now_ns();

    if (end == INIT_FAILED) {
        struct lbox_rapi_result r = failure;
        r.kind = LBOX_RESULT_ERROR;
        take_answer(res, &r);
        finish(env, res, invoke_start, 0);
        return 0;
    }
    if (end == INIT_EXITED) {
        set_exit_error(env, res, ws);
        finish(env, res, invoke_start, 0);
        return 0;
    }
    if (end == INIT_TIMED_OUT) {
        double secs = (double)(now_ns() - invoke_start) / 1e9;
        timeout_result(env, res, secs);
        finish(env, res, invoke_start, secs);
        return 0;
    }

    int64_t deadline_ns = invoke_start + timeout_ns;
    char trace[96];
    if (!req->trace_id)
        lbox_trace_id(trace, sizeof trace);
    struct lbox_rapi_invoke inv = {
        .request_id = res->request_id, .event = req->payload, .event_len = req->len,
        .deadline_ms = epoch_ms() + (deadline_ns - now_ns()) / 1000000,
        .function_arn = env->arn, .trace_id = req->trace_id ? req->trace_id : trace,
        .client_context = req->client_context, .cognito_identity = req->cognito_identity,
    };
    if (lbox_rapi_queue(env->api, &inv, err) < 0) {
        kill_runtime(env);
        return -1;
    }
    enum wait_end w = wait_for(env, invoke_over, deadline_ns, &ws);
    struct lbox_rapi_result r = {0};
    if (w == W_COND && lbox_rapi_take_result(env->api, &r)) {
        take_answer(res, &r);
        finish(env, res, invoke_start, 0);
        return 0;
    }
    if (w == W_EXIT) {
        kill_runtime(env);
        set_exit_error(env, res, ws);
        finish(env, res, invoke_start, 0);
        return 0;
    }
    /* Timeout: extensions hear about it, then the environment is reset. */
    double secs = (double)(now_ns() - invoke_start) / 1e9;
    shutdown_extensions(env, "timeout");
    kill_runtime(env);
    timeout_result(env, res, secs);
    finish(env, res, invoke_start, secs);
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
    if (env->sb && env->api)
        shutdown_extensions(env, "spindown");
    if (exiting) {
        /* The sandbox is killed last: its processes' exits (unmapping a node heap) then
         * run after ours instead of competing with it for the CPU. Output still flowing
         * on stdout (process.stdout.write queues what a full pipe does not take, and
         * sends it on after the answer) gets up to a second to arrive, as long as it
         * keeps coming; a quiet stdout costs no wait. The console records are all in
         * already: they are written before the answer. */
        drain_logs(env);
        int64_t start = now_ns();
        bool flowing = env->out_seen_ns && start - env->out_seen_ns < 100 * 1000000;
        while (flowing && now_ns() - start < 1000000000) {
            struct pollfd p = {.fd = env->log_rd, .events = POLLIN};
            flowing = poll(&p, 1, 20) > 0;
            drain_logs(env);
        }
        lbox_rapi_stop(env->api);
        lbox_sandbox_abandon(env->sb);
    } else {
        if (env->sb)
            lbox_sandbox_destroy(env->sb);
        drain_logs(env);
        lbox_rapi_stop(env->api);
    }
    end_log_line(env);
    lbox_log_stream_free(&env->out);
    lbox_log_stream_free(&env->tele);
    int fds[] = {env->log_rd, env->log_wr, env->tele_rd, env->tele_wr};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    lbox_rapi_result_free(&env->prewarm_error);
    lbox_strv_free(&env->envp);
    lbox_strv_free(&env->ext_envp);
    free(env->rootfs);
    free(env->arch);
    free(env->qemu);
    free(env->name);
    free(env->version);
    free(env->arn);
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
