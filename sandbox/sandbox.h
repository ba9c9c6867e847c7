/* sandbox: turns a root filesystem plus limits into an isolated, long-lived environment.
 *
 * Contract (what runner/ may rely on):
 *  - lbox_sandbox_create() clones a child into new user, mount, pid, ipc, uts, cgroup and
 *    (unless host_network) net namespaces. Inside, the child becomes pid 1 (a small reaper
 *    written in C, not exec'd) after building the mounts: rootfs read-only, /tmp a tmpfs of
 *    tmp_size_mb, fresh /proc with read-only covers, minimal /dev, pivot_root. uid 993/gid 990
 *    inside, mapped to the caller. Works as root and as an unprivileged user.
 *  - When listen_port != 0, pid 1 creates a TCP socket bound to 127.0.0.1:listen_port inside
 *    the sandbox's network namespace and hands the listening fd back to the caller
 *    (*listen_fd): the runner serves the Runtime API on it; nothing outside can connect.
 *    With host_network that namespace is the host's: lbox_sandbox_has_tcp_peer() tells
 *    the sandbox's own connections from any other local process's.
 *  - lbox_sandbox_tcp_socket(): a TCP socket of that namespace to connect, from any thread.
 *  - lbox_sandbox_exec() asks pid 1 to start a process (the runtime bootstrap) with exactly
 *    the given argv/envp/cwd (nothing inherited from the host environment), its own process
 *    group, rlimits (nofile 1024, nproc 1024), no capabilities, no_new_privs and the seccomp
 *    filter loaded last before execve. stdout/stderr go to the given fds. If the rootfs's
 *    architecture is foreign (qemu_path set) the exec goes through QEMU via a binfmt_misc
 *    registration private to the sandbox's user namespace.
 *  - lbox_sandbox_kill_procs() SIGKILLs every process in the sandbox except pid 1, so /tmp
 *    (owned by pid 1's mount namespace) survives an environment reset, as on Lambda.
 *  - lbox_sandbox_destroy() kills everything. If the runner dies, the sandbox dies too.
 *  - Memory: enforced through cgroup v2 or v1 when usable; memory_peak reports the measured
 *    maximum of the sandbox's processes. On v1, /tmp's pages do not count against
 *    memory_mb (on Lambda /tmp is disk): the cgroup's limit is memory_mb + tmp_size_mb and
 *    a runner thread kills the largest process when the rest passes memory_mb. */
#ifndef LBOX_SANDBOX_H
#define LBOX_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"

/* A host directory made writable inside at `target` (absolute; must already be a directory
 * in the image, since the root is read-only). The sandbox's processes write it as the
 * config's ids: reserve them first (lbox_sandbox_ids_reserve) and make it writable for
 * them. */
struct lbox_sandbox_bind {
    const char *source;
    const char *target;
};

/* The host ids a sandbox's processes are: the caller's own for a normal user (the only
 * ones its user namespace may map); for root, a uid and gid of the sandbox's own from
 * 0x7E000000 up, held until released (host_ids.c), so that the kernel's per-user budgets
 * (epoll watches, pipe buffers) are its own; nobody's (65534) when none can be had. */
struct lbox_sandbox_ids {
    uid_t uid;
    gid_t gid;
    int lock;   /* holds them; -1: nothing to hold */
};
void lbox_sandbox_ids_reserve(struct lbox_sandbox_ids *ids);
/* After the sandbox that used them is destroyed. */
void lbox_sandbox_ids_release(struct lbox_sandbox_ids *ids);
#define LBOX_SANDBOX_MAX_BINDS 4

struct lbox_sandbox_config {
    const char *rootfs;        /* unpacked image root (read-only bind) */
    unsigned tmp_size_mb;      /* /tmp tmpfs size, 512..10240 */
    unsigned memory_mb;        /* memory limit; 0 = none */
    bool host_network;         /* share the host's network namespace */
    bool nat_network;          /* own namespace, the internet through slirp4netns: tap0
                                * 10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3, and nothing of
                                * the host's loopback (for the build's npm install) */
    uint16_t listen_port;      /* 0 = none; else 127.0.0.1:<port> socket made inside */
    const char *arch;          /* image arch "x86_64" | "arm64" */
    const char *qemu_path;     /* NULL: native; else static qemu for the foreign arch */
    const char *hostname;      /* uts hostname inside (e.g. "169.254.x.x"-like); may be NULL */
    /* ---- additions for build sandboxes (npm install); zero = none ---- */
    const struct lbox_sandbox_bind *binds; /* read-write binds over the read-only root */
    size_t nbinds;                         /* at most LBOX_SANDBOX_MAX_BINDS */
    /* The ids to run as (reserved by the caller, which releases them after destroy); NULL:
     * the sandbox reserves its own. Required with binds. */
    const struct lbox_sandbox_ids *ids;
};

struct lbox_sandbox;

/* Compiles the seccomp filter (a few milliseconds in libseccomp, once per process) in a
 * background thread, for a caller that will create a sandbox after other work. Optional:
 * lbox_sandbox_create compiles it, or waits for this, either way. */
void lbox_sandbox_prepare(void);

int lbox_sandbox_create(const struct lbox_sandbox_config *cfg, struct lbox_sandbox **sb,
                        int *listen_fd, struct lbox_error *err);

/* Starts a process inside; *pid is its pid as seen from the host (for signalling/waiting
 * use the lbox_sandbox_* calls, not the pid directly). */
int lbox_sandbox_exec(struct lbox_sandbox *sb, const char *const *argv, const char *const *envp,
                      const char *cwd, int stdout_fd, int stderr_fd, pid_t *pid,
                      struct lbox_error *err);

/* The same, also handing the process extra_fd as its fd 3 (-1: none): the runtime's
 * telemetry log pipe, which Lambda gives the runtime in _LAMBDA_TELEMETRY_LOG_FD. */
int lbox_sandbox_exec_fd3(struct lbox_sandbox *sb, const char *const *argv,
                          const char *const *envp, const char *cwd, int stdout_fd, int stderr_fd,
                          int extra_fd, pid_t *pid, struct lbox_error *err);

/* Non-blocking check of the process started by lbox_sandbox_exec: returns 1 and fills
 * *wstatus (waitpid-style) when it has exited, 0 while it runs, -1 on error. */
int lbox_sandbox_poll_exit(struct lbox_sandbox *sb, int *wstatus, struct lbox_error *err);

/* How any process lbox_sandbox_exec started ended, by the host pid that call gave: 1 with
 * *wstatus once pid 1 has reported it (a moment after the process ended), 0 until then, -1
 * for a pid not started here or forgotten (lbox_sandbox_kill_procs forgets all but the
 * last one started). */
int lbox_sandbox_exit_status(struct lbox_sandbox *sb, pid_t pid, int *wstatus);

/* The errno with which the last lbox_sandbox_exec's execve failed (EACCES for a file that
 * is not executable, ENOENT for a missing interpreter...), 0 when it did not fail there. */
int lbox_sandbox_last_exec_errno(struct lbox_sandbox *sb);

/* An fd that becomes readable when the exec'd process exits (for poll loops). */
int lbox_sandbox_exit_fd(struct lbox_sandbox *sb);

/* Sends `sig` to the process group of a process lbox_sandbox_exec started (by the host pid
 * that call gave): 0 sent, 1 it has ended (or is not known here), -1 error. Sent by pid 1,
 * which reaps, so it never reaches a process that got the pid after the one meant: a
 * kill() by host pid from the runner could, once pid 1 reaped it. */
int lbox_sandbox_signal(struct lbox_sandbox *sb, pid_t pid, int sig, struct lbox_error *err);

/* Kills every process in the sandbox except pid 1 and waits until they are gone. */
int lbox_sandbox_kill_procs(struct lbox_sandbox *sb, struct lbox_error *err);

/* Peak memory of the sandbox in bytes since the last reset (0 if it cannot be measured). */
uint64_t lbox_sandbox_memory_peak(struct lbox_sandbox *sb);
void lbox_sandbox_memory_peak_reset(struct lbox_sandbox *sb);

/* With host_network, whether the loopback TCP connection from `peer` to 127.0.0.1:
 * local_port was made by one of the sandbox's processes (the Runtime API then takes it,
 * and refuses any other local process's). Reads /proc: about a millisecond. */
struct sockaddr_in;
bool lbox_sandbox_has_tcp_peer(struct lbox_sandbox *sb, const struct sockaddr_in *peer,
                               uint16_t local_port);

/* A new TCP socket (AF_INET, SOCK_STREAM, close-on-exec, blocking) made in the
 * sandbox's network namespace (the host's with host_network), for the runner to
 * connect() to a listener of the sandbox's processes on 127.0.0.1: the Telemetry API's
 * deliveries to an extension. Thread-safe: any thread may call it, also while another
 * thread uses the other calls on the same sandbox. Returns the fd, or -1 with *err set. */
int lbox_sandbox_tcp_socket(struct lbox_sandbox *sb, struct lbox_error *err);

/* One line describing how memory is enforced (cgroup v2 / v1 / "not enforced: <why>"). */
const char *lbox_sandbox_memory_mode(struct lbox_sandbox *sb);

void lbox_sandbox_destroy(struct lbox_sandbox *sb);

/* lbox_sandbox_destroy for a runner that exits right after: everything is killed, but
 * the namespaces' teardown is not waited for and a detached process removes the cgroup.
 * A runner that goes on must use lbox_sandbox_destroy (pid 1 stays its zombie here). */
void lbox_sandbox_abandon(struct lbox_sandbox *sb);

/* ---- Additions by the sandbox implementation (nothing above changed) ----
 *
 * Usage notes for the runner:
 *  - Create a sandbox from a thread that lives as long as the sandbox (the main thread or
 *    a pool's long-lived thread): PR_SET_PDEATHSIG fires when the *creating thread* exits.
 *  - The runner must not reap pid 1 itself (no waitpid(-1) / SIGCHLD=SIG_IGN in the runner);
 *    lbox_sandbox_destroy() waits for it.
 *  - Calls on one sandbox are not thread-safe (but lbox_sandbox_tcp_socket, which may run
 *    alongside any other call but destroy/abandon); different sandboxes are independent.
 *  - argv[0] of lbox_sandbox_exec: an absolute path, or a name looked up in envp's PATH.
 *  - Identity: every process lbox_sandbox_exec starts is 993:990 in a user namespace of its
 *    own, nested under pid 1's namespace where pid 1 is root (needed to own its private
 *    binfmt_misc). pid 1's root maps to the host ids of struct lbox_sandbox_ids (the
 *    caller for a normal user, unprivileged ids of the sandbox's own for root), so image
 *    files must be readable by "other" (as on Lambda) when running as root. The started
 *    processes hold no capability in either namespace.
 *  - Exec failures (missing program, bad cwd) come back as errors of lbox_sandbox_exec;
 *    the started process's pid 1-side wait status comes through poll_exit (exit_fd turns
 *    readable; it also turns readable at EOF when pid 1 died, and poll_exit then fails).
 *  - QEMU: the sandbox sees /proc/self/exe as QEMU's binary, so guest programs that
 *    re-exec themselves through it (busybox's applets do) misbehave; node does not.
 *  - /tmp: tmpfs, mode 1777, owned by 993:990; /dev/shm: 64 MB tmpfs; / read-only;
 *    network namespace has only lo (up) unless host_network.
 *  - tmp_size_mb accepts 1..10240 (the CLI enforces Lambda's 512 minimum). */

/* Host pid of the sandbox's pid 1 (for diagnostics and tests). */
pid_t lbox_sandbox_init_pid(struct lbox_sandbox *sb);

/* Number of syscalls the seccomp filter allows on this architecture (unconditionally or
 * with argument checks); 0 if the filter cannot be compiled. */
unsigned lbox_sandbox_seccomp_allowed(void);

/* What the sandbox's processes hold on file system `dev` in regular files they deleted
 * and keep open (allocated bytes, each file once): disk space that no walk of the folders
 * they write can see, until they close it. */
uint64_t lbox_sandbox_unlinked_bytes(struct lbox_sandbox *sb, dev_t dev);

/* Whether this kernel lets a sandbox keep abstract UNIX sockets and signals to itself
 * (Landlock scopes, Linux 6.12). Without them, a sandbox on the host's network (invoke's
 * --network host) can connect to the host's abstract sockets: callers should say so. */
bool lbox_sandbox_scopes_sockets(void);

/* The slirp4netns a nat_network sandbox runs: $LBOX_SLIRP4NETNS, else its Debian path. */
const char *lbox_nat_program(void);

/* "x86_64" or "arm64": the architecture this lbox was built for. */
const char *lbox_sandbox_host_arch(void);

/* Default static QEMU for running `arch` images here, or NULL when `arch` is native (then
 * leave qemu_path NULL). Accepts x86_64/amd64 and arm64/aarch64. */
const char *lbox_binfmt_default_qemu(const char *arch);

/* `lbox binfmt install`: registers qemu-<arch>-static with flag F in the host's global
 * binfmt_misc (root only; mounts binfmt_misc if needed; replaces an entry lacking F).
 * Only needed on kernels older than 6.7; qemu_path NULL = the Debian default. */
int lbox_binfmt_install_host(const char *arch, const char *qemu_path, struct lbox_error *err);


/* QEMU's CPU model for an emulated arm64: Lambda's arm64 runs on Graviton2 (Neoverse N1).
 * lbox_sandbox_exec adds QEMU_CPU=<this> to a foreign-arch process's environment unless
 * the caller set QEMU_CPU: QEMU's default model ("max") emulates pointer authentication
 * in software, which Node.js's arm64 build uses on every call, and starts node ~8x slower. */
#define LBOX_QEMU_ARM64_CPU "neoverse-n1"

#endif
