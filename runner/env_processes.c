/* The environment's processes: the runtime and the external extensions, started in the
 * sandbox, watched, waited for, shut down and killed as Lambda does. */
#include "env_internal.h"
#include "telemetry.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "state.h"

#define SHUTDOWN_BUDGET_MS 2000
/* The part of it the runtime has to exit after SIGTERM before extensions hear SHUTDOWN (RAPID
 * gives it 30%, rapid/shutdown.go). */
#define RUNTIME_SHUTDOWN_MS (SHUTDOWN_BUDGET_MS * 3 / 10)

/* ---- watching the processes ---------------------------------------------------------------- */

/* Whether the runtime has exited (remembered: the sandbox tells it once). */
bool env_runtime_gone(struct lbox_env *env)
{
    struct lbox_error perr = {0};
    if (env->running && !env->runtime_exited &&
        lbox_sandbox_poll_exit(env->sb, &env->runtime_wstatus, &perr) == 1)
        env->runtime_exited = true;
    return env->runtime_exited;
}

/* Notes the extensions whose process has ended; true when one has crashed, i.e. ended while
 * nobody asked it to. One pid 1 no longer knows of (it died with everything) is gone too. */
bool env_extension_crashed(struct lbox_env *env)
{
    for (size_t i = 0; i < env->n_ext; i++) {
        struct ext_proc *e = &env->ext[i];
        int wstatus = -1;
        if (e->gone || e->pid <= 0 || lbox_sandbox_exit_status(env->sb, e->pid, &wstatus) == 0)
            continue;
        e->gone = true;
        if (!env->shutting_down && !env->crashed_ext[0]) {
            snprintf(env->crashed_ext, sizeof env->crashed_ext, "%s", e->name);
            env->crashed_wstatus = wstatus;
        }
    }
    return env->crashed_ext[0] != 0;
}

static bool extensions_all_gone(const struct lbox_env *env)
{
    for (size_t i = 0; i < env->n_ext; i++)
        if (!env->ext[i].gone)
            return false;
    return true;
}

void env_forget_extensions(struct lbox_env *env)
{
    free(env->ext);
    env->ext = NULL;
    env->n_ext = 0;
    env->crashed_ext[0] = 0;
}

/* ---- waiting -------------------------------------------------------------------------------- */

bool env_init_over(struct lbox_env *env, const struct lbox_rapi_status *st)
{
    (void)env;
    return st->init_done || st->init_error;
}

bool env_invoke_over(struct lbox_env *env, const struct lbox_rapi_status *st)
{
    (void)env;
    return st->invoke_done;
}

bool env_runtime_waiting(struct lbox_env *env, const struct lbox_rapi_status *st)
{
    (void)env;
    return st->runtime_waiting;
}

/* Extension init comes first: every started extension has registered. */
static bool extensions_registered(struct lbox_env *env, const struct lbox_rapi_status *st)
{
    return st->n_extensions >= env->n_ext;
}

static bool runtime_down(struct lbox_env *env, const struct lbox_rapi_status *st)
{
    (void)st;
    return !env->running || env_runtime_gone(env);
}

/* After SHUTDOWN, extensions are done once they have exited, as RAPID waits for; one that
 * asks for another event instead (or never subscribed to SHUTDOWN) has nothing left to do. */
static bool extensions_done(struct lbox_env *env, const struct lbox_rapi_status *st)
{
    env_extension_crashed(env);
    return st->extensions_idle || extensions_all_gone(env);
}

/* The fds a wait wakes up for: the Runtime API's state, the output pipes, and pid 1's exit
 * reports while the runtime or an extension may still end. Returns how many it filled. */
static nfds_t wait_fds(struct lbox_env *env, struct pollfd *p)
{
    bool watched = env->running && !env->runtime_exited;
    for (size_t i = 0; i < env->n_ext; i++)
        watched = watched || (!env->ext[i].gone && env->ext[i].pid > 0);
    nfds_t n = 0;
    int fds[] = {lbox_rapi_wait_fd(env->api), env->log_rd, env->tele_rd, env->ext_rd,
                 watched ? lbox_sandbox_exit_fd(env->sb) : -1};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] >= 0)
            p[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    return n;
}

/* Waits until pred holds, the runtime exits, an extension crashes, or the deadline passes,
 * forwarding the function's output meanwhile. */
enum wait_end env_wait_for(struct lbox_env *env, status_pred pred, int64_t deadline_ns)
{
    struct pollfd p[5];
    enum wait_end end;
    for (;;) {
        env_drain_logs(env);
        lbox_rapi_clear_wait(env->api);
        struct lbox_rapi_status st;
        lbox_rapi_status(env->api, &st);
        if (pred(env, &st)) {
            end = W_COND;
            break;
        }
        bool exited = env_runtime_gone(env), crashed = env_extension_crashed(env);
        if (!env->shutting_down && (exited || crashed)) {
            /* An answer posted just before exiting still counts. */
            env_drain_logs(env);
            lbox_rapi_status(env->api, &st);
            end = pred(env, &st) ? W_COND : exited ? W_EXIT : W_EXT_EXIT;
            break;
        }
        int64_t left = deadline_ns - now_ns();
        if (left <= 0) {
            end = W_TIMEOUT;
            break;
        }
        int ms = (int)(left / 1000000) + 1;
        if (lbox_sandbox_exit_fd(env->sb) < 0 && ms > 50)
            ms = 50; /* no exit fd: look at the process regularly */
        poll(p, wait_fds(env, p), ms);
    }
    return end;
}

/* ---- starting and stopping the runtime ---------------------------------------------------- */

/* tele_fd: the telemetry pipe for the runtime, -1 for an extension (whose output goes to
 * the extensions' pipe). */
static int exec_in_sandbox(struct lbox_env *env, const char *path, char *const *envp,
                           int tele_fd, pid_t *pid, struct lbox_error *err)
{
    const char *argv[] = {path, NULL};
    int out = tele_fd >= 0 ? env->log_wr : env->ext_wr;
    return lbox_sandbox_exec_fd3(env->sb, argv, (const char *const *)envp, "/var/task", out,
                                 out, tele_fd, pid, err);
}

/* The image's root on the host. Paths of the image are opened through it and inside it
 * (lbox_open_in_root): an image's links (a layer's `extensions -> ../../etc/apt`, an
 * absolute `bootstrap -> /bin/sh`) must resolve as the sandbox sees them, never on the
 * host, whose file names would otherwise reach the invoke's output. */
static int open_rootfs(const struct lbox_env *env, struct lbox_error *err)
{
    int fd = open(env->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        lbox_err_errno(err, errno, "cannot open the image %s", env->rootfs);
    return fd;
}

/* RAPID starts every entry of /opt/extensions that is not a directory (os.ReadDir: dot
 * files too, in byte order; the entry's own type, a link is not followed), so a file that
 * is not executable fails the init there. */
char **env_extension_names(int rootfd, size_t *n)
{
    *n = 0;
    if (lbox_exists_in_root(rootfd, "/opt/disable-extensions-jwigqn8j"))
        return NULL;
    int dfd = lbox_open_in_root(rootfd, "/opt/extensions", O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return NULL;
    size_t all = 0;
    char **names = lbox_dir_names_at(dfd, &all);
    for (size_t i = 0; names && i < all; i++) {
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            free(names[i]);
        else
            names[(*n)++] = names[i];
    }
    if (names)
        names[*n] = NULL;
    close(dfd);
    return names;
}

char *const *env_extensions(struct lbox_env *env, size_t *n)
{
    if (!env->ext_listed) {
        struct lbox_error ignored = {0};
        _cleanup_close_ int rootfd = open_rootfs(env, &ignored);
        if (rootfd >= 0)
            env->ext_names = env_extension_names(rootfd, &env->n_ext_names);
        env->ext_listed = true;
    }
    *n = env->n_ext_names;
    return env->ext_names;
}

/* An extension that cannot be started, said as RAPID's Go supervisor says it ("fork/exec
 * /opt/extensions/x: permission denied"); lbox's own message when it failed elsewhere. */
static void launch_error(struct lbox_env *env, const char *path, struct lbox_error *err)
{
    int e = lbox_sandbox_last_exec_errno(env->sb);
    if (!e)
        return;
    char why[128];
    snprintf(why, sizeof why, "%s", strerror(e));
    why[0] = (char)tolower((unsigned char)why[0]); /* Go's errno strings are lower case */
    lbox_err(err, LBOX_E_INVAL, "fork/exec %s: %s", path, why);
}

static int start_extension(struct lbox_env *env, const char *name, struct lbox_error *err)
{
    char *inside = lbox_strdupf("/opt/extensions/%s", name);
    pid_t pid = 0;
    int r = exec_in_sandbox(env, inside, env->ext_envp.v, -1, &pid, err);
    if (r < 0)
        launch_error(env, inside, err);
    if (r == 0) {
        struct ext_proc *e = &env->ext[env->n_ext++];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->pid = pid;
        e->gone = false;
    }
    free(inside);
    return r;
}

/* External extensions: executables in /opt/extensions, started before the runtime. */
/* (An image that cannot be opened has none here; starting the runtime then says why.) */
static int start_extensions(struct lbox_env *env, struct lbox_error *err)
{
    size_t n_run = 0;
    char *const *run = env_extensions(env, &n_run);
    /* Known before they start: by name, they are the external extensions. */
    lbox_rapi_set_external_extensions(env->api, (const char *const *)run, n_run);
    env_forget_extensions(env);
    env->ext = lbox_xcalloc(n_run ? n_run : 1, sizeof *env->ext);
    int r = 0;
    env->launch_failed[0] = 0;
    for (size_t i = 0; i < n_run && r == 0; i++) {
        /* RAPID starts ten, then fails the init on the eleventh, before starting it. */
        if (i == LBOX_MAX_EXTENSIONS)
            r = lbox_err(err, LBOX_E_LIMIT, "ErrTooManyExtensions");
        else
            r = start_extension(env, run[i], err);
        if (r < 0)
            snprintf(env->launch_failed, sizeof env->launch_failed, "%s", run[i]);
    }
    return r;
}

/* The runtime's entry point: a managed Node.js runtime starts /var/runtime/bootstrap; an
 * image without one may bring its own (custom runtime order). Looked for inside the image,
 * as the sandbox's exec will follow its links. */
static const char *bootstrap_path(int rootfd)
{
    static const char *const candidates[] = {"/var/runtime/bootstrap", "/var/task/bootstrap",
                                             "/opt/bootstrap"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
        if (lbox_exists_in_root(rootfd, candidates[i]))
            return candidates[i];
    return NULL;
}

static int start_runtime(struct lbox_env *env, struct lbox_error *err)
{
    _cleanup_close_ int rootfd = open_rootfs(env, err);
    if (rootfd < 0)
        return -1;
    const char *boot = bootstrap_path(rootfd);
    if (!boot)
        return lbox_err(err, LBOX_E_NOTFOUND,
                        "the image %s has no /var/runtime/bootstrap (nor /var/task/bootstrap, "
                        "/opt/bootstrap): rebuild it with `lbox build`",
                        env->rootfs);
    if (exec_in_sandbox(env, boot, env->envp.v, env->tele_wr, &env->runtime_pid, err) < 0)
        return lbox_err_prefix(err, "starting %s", boot);
    env->running = true;
    env->initialized = false;
    env->runtime_exited = false;
    return 0;
}

/* Lambda's reset: every process goes (SIGKILL), /tmp stays, the next invoke inits again. */
void env_kill_runtime(struct lbox_env *env)
{
    struct lbox_error err = {0};
    if (env->running || env->n_ext)
        lbox_sandbox_kill_procs(env->sb, &err);
    env_drain_logs(env);
    lbox_rapi_reset(env->api);
    env_forget_extensions(env);
    env->running = false;
    env->initialized = false;
    env->runtime_exited = false;
    env->shutting_down = false;
}

/* Signals the runtime's process group, through pid 1 (lbox_sandbox_signal: never a process
 * that got its pid after it). */
static void signal_runtime(struct lbox_env *env, int sig)
{
    if (env->running && env->runtime_pid > 0 && !env_runtime_gone(env))
        lbox_sandbox_signal(env->sb, env->runtime_pid, sig, NULL);
}

/* RAPID kills the process group of each extension that did not subscribe to SHUTDOWN (or
 * never registered) when SHUTDOWN goes out: only the subscribers are waited for. */
static void kill_unsubscribed_extensions(struct lbox_env *env)
{
    env_extension_crashed(env); /* notes the ones already gone */
    for (size_t i = 0; i < env->n_ext; i++) {
        struct ext_proc *e = &env->ext[i];
        if (!e->gone && e->pid > 0 && !lbox_rapi_extension_wants_shutdown(env->api, e->name))
            lbox_sandbox_signal(env->sb, e->pid, SIGKILL, NULL);
    }
}

/* Lambda's shutdown (also its reset after a timeout or failure), as RAPID does it: with no
 * extension registered nothing is asked; otherwise the runtime gets SIGTERM and its share of
 * the budget to exit (SIGKILL after), then SHUTDOWN goes to the extensions, which have until
 * the deadline to exit. Whatever is left is for the caller to kill. */
void env_shut_down(struct lbox_env *env, const char *reason)
{
    struct lbox_rapi_status st;
    lbox_rapi_status(env->api, &st);
    if (st.n_extensions == 0)
        return;
    int64_t start = now_ns(), deadline_ms = epoch_ms() + SHUTDOWN_BUDGET_MS;
    env->shutting_down = true;
    signal_runtime(env, SIGTERM);
    env_wait_for(env, runtime_down, start + (int64_t)RUNTIME_SHUTDOWN_MS * 1000000);
    signal_runtime(env, SIGKILL);
    /* As Lambda: what the Telemetry API holds goes out before the extensions' SHUTDOWN.
     * Their subscriptions end with them; new processes subscribe again. */
    lbox_telemetry_flush(env->telemetry, 1000);
    lbox_telemetry_unsubscribe_all(env->telemetry);
    lbox_rapi_shutdown(env->api, reason, deadline_ms);
    kill_unsubscribed_extensions(env);
    env_wait_for(env, extensions_done, start + (int64_t)SHUTDOWN_BUDGET_MS * 1000000);
}

/* A reset: shut down, then kill what is left. */
void env_reset(struct lbox_env *env, const char *reason)
{
    env_shut_down(env, reason);
    env_kill_runtime(env);
}

/* Lambda's extension init comes before the runtime's: every started extension registers
 * (until the init deadline) before the runtime starts. An extension that cannot be started
 * fails the init as on Lambda (Extension.LaunchError, said in *launch), not lbox. */
int env_start_processes(struct lbox_env *env, int64_t deadline_ns, enum wait_end *w,
                           struct lbox_error *launch, struct lbox_error *err)
{
    lbox_rapi_reset(env->api);
    lbox_sandbox_memory_peak_reset(env->sb);
    *w = W_COND;
    if (start_extensions(env, launch) < 0)
        return 0;
    if (env->n_ext)
        *w = env_wait_for(env, extensions_registered, deadline_ns);
    if (*w == W_COND && start_runtime(env, err) < 0)
        return -1;
    return 0;
}
