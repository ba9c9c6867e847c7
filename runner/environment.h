/* One Lambda execution environment: a sandbox, its Runtime API server, and the lifecycle
 * Lambda gives them (reference §1.8, §5.6):
 *
 *   create ─► init (on the first invoke, or ahead with lbox_env_prewarm; 10 s limit):
 *          external extensions (/opt/extensions) register, then the runtime starts
 *          ─► invoke, invoke, ... (warm: the same runtime process, /tmp kept)
 *   timeout, or the runtime or an extension exiting (Extension.Crash) ─► reset: the
 *          processes go, /tmp stays, the next invoke re-initialises.
 *
 * A reset ("timeout", "failure") and the final shutdown ("spindown") go as in RAPID: with an
 * extension registered the runtime gets SIGTERM and 600 ms, then the external extensions get
 * SHUTDOWN and the rest of 2 s to exit; whatever is left is killed. Without extensions the
 * processes are simply killed.
 *
 * Platform lines (START/END/REPORT) and the function's output go to the log callback in
 * Lambda's order. Invokes on one environment are serialised by the caller. */
#ifndef LBOX_RUNNER_ENVIRONMENT_H
#define LBOX_RUNNER_ENVIRONMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "runtime_api.h"

#define LBOX_INIT_LIMIT_MS 10000
/* Under QEMU user emulation Node.js starts 10-50 times slower; Lambda's 10 s would turn every
 * emulated cold start into a failed init plus a retry, so emulated environments get this. */
#define LBOX_INIT_LIMIT_EMULATED_MS 60000

/* QEMU's own memory is not the function's: its translated code grows with the JavaScript
 * the function runs (examples/hello: +55 MB, examples/sdk: +108 MB over native x86_64). An
 * emulated environment may use this much more than --memory before it is stopped; Max
 * Memory Used still reports everything measured, QEMU included. */
static inline unsigned lbox_env_qemu_allowance_mb(unsigned memory_mb)
{
    return memory_mb / 2 > 128 ? memory_mb / 2 : 128;
}

typedef void (*lbox_log_fn)(void *ctx, const char *data, size_t len);

struct lbox_env_config {
    const char *rootfs;            /* unpacked image */
    const char *arch;              /* x86_64 | arm64 */
    const char *qemu_path;         /* NULL when native */
    const char *function_name;
    const char *function_version;  /* NULL: $LATEST */
    const char *function_arn;
    const char *handler;
    /* What INIT_START and the Telemetry API's platform.initStart name (lbox_image_facts);
     * NULL: neither is known, and no INIT_START line is written. */
    const char *runtime_version;      /* nodejs:18.20.8 */
    const char *runtime_version_arn;  /* arn:aws:lambda:REGION::runtime:<64 hex> */
    unsigned timeout_s;            /* 1..900 */
    unsigned memory_mb;            /* 128..10240 */
    unsigned tmp_size_mb;          /* 512..10240 */
    bool host_network;
    char *const *envp;             /* the runtime's environment (env_vars.c) */
    lbox_log_fn log;               /* function output and platform lines */
    void *log_ctx;
    lbox_rapi_stream_fn stream;    /* streamed response bytes; NULL: buffered into the result */
    void *stream_ctx;
};

enum lbox_invoke_status {
    LBOX_INVOKE_OK,
    LBOX_INVOKE_FUNCTION_ERROR,    /* X-Amz-Function-Error: Unhandled */
    LBOX_INVOKE_TIMEOUT,           /* also a function error, for the invoker */
};

struct lbox_invoke_request {
    const void *payload;
    size_t len;
    const char *client_context;    /* decoded JSON or NULL */
    const char *cognito_identity;  /* JSON or NULL */
    const char *trace_id;          /* NULL: a fresh, unsampled one */
};

struct lbox_invoke_result {
    enum lbox_invoke_status status;
    char request_id[37];
    char *payload;                 /* response or error JSON (malloc'd) */
    size_t len;
    char *content_type;
    char *error_type;              /* for errors: the type (body's errorType or header) */
    bool streamed;                 /* payload already went to the stream callback */
    double duration_ms;
    double init_duration_ms;       /* < 0 unless this invoke was a cold start */
    unsigned max_memory_mb;
    /* REPORT's Status when the environment failed: "timeout", "error" (with the type in
     * report_error_type), NULL otherwise (a function's own error included). */
    const char *report_status;
    char report_error_type[64];
    bool runtime_killed;           /* the runtime died of SIGKILL (memory, if at the limit) */
    /* When the event was handed to the runtime, when the runtime began to send its answer
     * (wall clock, and monotonic) and how long that took (answer_ns 0: no answer), and the
     * bytes it sent: the Telemetry API's spans and producedBytes. */
    struct timespec invoke_at, answer_at;
    int64_t invoke_ns, answer_ns;
    double answer_ms;
    size_t produced_bytes;
};

struct lbox_env;

int lbox_env_create(const struct lbox_env_config *cfg, struct lbox_env **env,
                    struct lbox_error *err);
/* Initialises now (Lambda's provisioned/pre-warmed start). An init failure is not an error
 * here: like Lambda, it is logged (INIT_REPORT), and the first invoke initialises again
 * inside itself, that attempt's failure being its answer. */
int lbox_env_prewarm(struct lbox_env *env, struct lbox_error *err);
/* Runs one event. Returns -1 only when lbox itself failed (sandbox, oversized event); every
 * function failure is a result. */
int lbox_env_invoke(struct lbox_env *env, const struct lbox_invoke_request *req,
                    struct lbox_invoke_result *res, struct lbox_error *err);
void lbox_invoke_result_free(struct lbox_invoke_result *res);
/* Shuts down (SHUTDOWN "spindown", or "failure" when a process died since the last invoke;
 * 2 s budget), then kills everything. */
void lbox_env_destroy(struct lbox_env *env);
/* The same for a caller that exits right after (`lbox invoke`): the sandbox's teardown is
 * left to the kernel and a detached cleaner (lbox_sandbox_abandon), not waited for. */
void lbox_env_destroy_before_exit(struct lbox_env *env);

/* How memory is limited in this environment (from the sandbox), for a one-time notice. */
const char *lbox_env_memory_mode(struct lbox_env *env);

#endif
