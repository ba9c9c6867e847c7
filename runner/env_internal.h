/* What the environment's files share (environment.c: create, init, invoke, destroy;
 * env_processes.c: starting, watching, waiting for and stopping the runtime and the
 * extensions; env_log.c: the function's output and the platform lines, in one log). Not part
 * of the runner's public interface. */
#ifndef LBOX_RUNNER_ENV_INTERNAL_H
#define LBOX_RUNNER_ENV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "env_vars.h"
#include "environment.h"
#include "log_stream.h"
#include "runtime_api.h"
#include "sandbox/sandbox.h"

/* An external extension's process. The sandbox's pid 1 reports its end as it reports the
 * runtime's: an end outside a shutdown is Lambda's Extension.Crash. */
struct ext_proc {
    char name[64];
    pid_t pid;              /* host pid, leader of its process group */
    bool gone;
};

/* Who writes to the environment's log: lbox's platform lines, and the function's three
 * outputs (its stdout and stderr, the runtime's console records, the extensions'). */
enum log_source { SRC_PLATFORM, SRC_STDOUT, SRC_CONSOLE, SRC_EXTENSIONS };

struct lbox_env {
    struct lbox_env_config cfg;
    char *rootfs, *arch, *qemu, *name, *version, *arn, *handler;
    char *runtime_version, *runtime_version_arn; /* NULL: not known */
    struct lbox_strv envp, ext_envp;
    struct lbox_sandbox *sb;
    uint16_t api_port;        /* the Runtime API's port (with --network host, on its loopback) */
    struct lbox_rapi *api;
    /* The function's output: stdout and stderr of the runtime and its children (one pipe),
     * the runtime's console records, written synchronously to its telemetry pipe (fd 3),
     * and the extensions' stdout and stderr (one pipe: the Telemetry API tells their lines
     * from the function's). */
    int log_rd, log_wr, tele_rd, tele_wr, ext_rd, ext_wr;
    struct lbox_log_stream out, tele, ext_out;
    /* The Telemetry API (telemetry.h), and each source's line or record being collected for
     * it (stdout, console, extensions: env_log.c). */
    struct lbox_telemetry *telemetry;
    struct tele_line {
        char *buf;
        size_t len;
        bool pieces_sent;  /* a long one: its first pieces went out */
        bool held_newline; /* a console record's newline, sent if more of it comes */
    } tele_lines[3];
    int64_t out_seen_ns;    /* when stdout last gave output */
    int64_t last_deadline_ns; /* the last invoke's: its runtime must be back in /next by then */
    /* Where the log (one output for the streams and the platform lines) stands: which
     * source wrote last, and whether it left a line open. */
    enum log_source log_src;
    bool log_mid_line;
    bool running;           /* a runtime process was started and not killed */
    bool initialized;       /* ... and finished its init */
    bool init_phase_done;   /* the environment's first init (its init phase) was tried */
    double init_ms;         /* last init's duration */
    pid_t runtime_pid;      /* host pid, leader of the runtime's process group */
    bool runtime_exited;    /* ... and it has exited (runtime_wstatus says how) */
    int runtime_wstatus;
    struct ext_proc *ext;   /* the external extensions started with it */
    size_t n_ext;
    char launch_failed[64]; /* the extension that could not be started ("" none) */
    /* The image's extension names (env_extensions): its root does not change, so they are
     * listed once, not at every init. */
    char **ext_names;
    size_t n_ext_names;
    bool ext_listed;
    char crashed_ext[64];   /* the first extension that exited outside a shutdown ("" none) */
    int crashed_wstatus;    /* ... how it ended (-1: not known) */
    bool shutting_down;     /* SIGTERM or SHUTDOWN sent: exits are expected now */
};

static inline int64_t now_ns(void)
{
    return lbox_mono_ns();
}

static inline int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the log (env_log.c) ---- */

/* The log streams' callbacks (ctx: the environment): the runtime's stdout, its telemetry
 * fd, the extensions' stdout. */
void env_log_from_stdout(void *ctx, const char *data, size_t len);
void env_log_from_telemetry(void *ctx, const char *data, size_t len);
/* A console record on the telemetry pipe, its bytes then its end: the Telemetry and Logs
 * APIs get it as one event. */
void env_console_record_data(void *ctx, const char *data, size_t len);
void env_console_record_end(void *ctx);
void env_log_from_extensions(void *ctx, const char *data, size_t len);
/* Passes on the streams' unfinished lines and ends the log's line, if open. */
void env_end_log_line(struct lbox_env *env);
/* Writes a platform line (START, END, REPORT, ...) on a line of its own; frees it. */
void env_emit(struct lbox_env *env, char *line);
/* Passes on what the function wrote so far (bounded); true if there was anything. */
bool env_drain_logs(struct lbox_env *env);

/* ---- the Telemetry API's platform events (env_telemetry.c) ---- */

/* An init starts (phase "init" or "invoke"): subscriptions open, platform.initStart. */
void env_tel_init_start(struct lbox_env *env, const char *phase);
/* It ended: platform.initRuntimeDone, platform.extension for each extension,
 * platform.initReport; subscriptions close. status: success, error, failure, timeout. */
void env_tel_init_end(struct lbox_env *env, const char *phase, const char *status,
                      const char *error_type, double ms);
void env_tel_start(struct lbox_env *env, const char *request_id, const char *trace_id);
/* platform.runtimeDone and platform.report of a finished invoke. */
struct lbox_invoke_result;
void env_tel_invoke_end(struct lbox_env *env, const struct lbox_invoke_result *res,
                        uint64_t billed_ms);

/* ---- the processes (env_processes.c) ---- */

/* W_EXIT: the runtime exited; W_EXT_EXIT: an extension crashed. Neither ends a wait during a
 * shutdown, where exits are what is waited for. */
enum wait_end { W_COND, W_EXIT, W_EXT_EXIT, W_TIMEOUT };

typedef bool (*status_pred)(struct lbox_env *env, const struct lbox_rapi_status *st);

/* Predicates for env_wait_for. */
bool env_init_over(struct lbox_env *env, const struct lbox_rapi_status *st);
bool env_invoke_over(struct lbox_env *env, const struct lbox_rapi_status *st);
bool env_runtime_waiting(struct lbox_env *env, const struct lbox_rapi_status *st);
/* Waits until pred holds, the runtime exits, an extension crashes, or the deadline passes,
 * forwarding the function's output meanwhile. */
enum wait_end env_wait_for(struct lbox_env *env, status_pred pred, int64_t deadline_ns);

/* Whether the runtime has exited (remembered: the sandbox tells it once). */
bool env_runtime_gone(struct lbox_env *env);
/* Notes the extensions that ended; true when one crashed (ended while nobody asked it to). */
bool env_extension_crashed(struct lbox_env *env);
void env_forget_extensions(struct lbox_env *env);

/* The names RAPID starts from the image's /opt/extensions (byte order, directories left
 * out), found inside the image whose root is open at rootfd, its links resolved there; NULL
 * (n = 0) when there are none or extensions are disabled. Each name and the array are
 * malloc'd. */
char **env_extension_names(int rootfd, size_t *n);
/* The same for the environment's image, listed at the first call (none when the image
 * cannot be opened); the environment owns them. */
char *const *env_extensions(struct lbox_env *env, size_t *n);

/* Starts the extensions, waits for them to register, then starts the runtime. An extension
 * that cannot be started is said in *launch (the init fails as on Lambda); -1 is lbox's own
 * failure, in *err. */
int env_start_processes(struct lbox_env *env, int64_t deadline_ns, enum wait_end *w,
                        struct lbox_error *launch, struct lbox_error *err);
/* Lambda's shutdown (RAPID's order: the runtime, then the extensions, within the budget). */
void env_shut_down(struct lbox_env *env, const char *reason);
/* Lambda's reset: every process goes (SIGKILL), /tmp stays, the next invoke inits again. */
void env_kill_runtime(struct lbox_env *env);
/* A shutdown, then kills what is left. */
void env_reset(struct lbox_env *env, const char *reason);

#endif
