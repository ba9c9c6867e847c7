/* sandbox internals shared by the files of this folder (not part of the contract).
 *
 * Two sides:
 *  - the runner side (create.c, client.c, cgroup.c, userns.c, seccomp.c compile step) runs
 *    in the caller's process and may allocate freely;
 *  - the sandbox side (create.c's child steps, mounts.c, init.c, binfmt.c register step) runs
 *    in a process made by a raw clone() of a possibly multi-threaded runner. A malloc lock
 *    held by another runner thread at clone time would stay locked forever there, so that
 *    side never calls malloc, stdio or anything that may: everything it needs is prepared
 *    in struct lbox_child_plan before the clone, and messages use fixed buffers. */
#ifndef LBOX_SANDBOX_INTERNAL_H
#define LBOX_SANDBOX_INTERNAL_H

#include <limits.h>
#include <linux/filter.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"
#include "sandbox.h"

/* Identity of the processes the sandbox runs, as on Lambda (sbx_user1051); pid 1 is root
 * of its own user namespace one level up (see userns.c). */
#define LBOX_SANDBOX_UID 993
#define LBOX_SANDBOX_GID 990

/* As root the sandbox user maps to this unprivileged host id (nobody:nogroup), so a process
 * that escaped the namespaces would own nothing on the host. A normal user maps to itself. */
#define LBOX_SANDBOX_ROOT_HOST_UID 65534
#define LBOX_SANDBOX_ROOT_HOST_GID 65534
/* ... or rather to ids of its own from this range (host_ids.c); nobody is the fallback. */
#define LBOX_ROOT_IDS_BASE 0x7E000000u
#define LBOX_ROOT_IDS_COUNT 4096u

/* procs.c: the host pids of pid 1 and every process below it (malloc'd, *n of them). */
pid_t *lbox_sandbox_pids(struct lbox_sandbox *sb, size_t *n);

#define LBOX_SANDBOX_NOFILE 1024
#define LBOX_SANDBOX_NPROC 1024
/* Pseudo-terminals (devpts max=, hence a string): a shell or two, not the host's pool. */
#define LBOX_SANDBOX_PTYS "64"

/* What part of the invoking user's per-user budgets one sandbox may take: queued signals and
 * POSIX message queues (rlimits, init.c), and inotify below (a quarter of 128). */
#define LBOX_SANDBOX_SHARE 4

/* inotify for the whole sandbox. The kernel charges every instance and watch up the chain
 * of user namespaces to the user who ran lbox (fs.inotify.max_user_instances, 128 by default,
 * and max_user_watches), so without a cap of its own a function could take that user's
 * whole budget, and root's services would lose inotify. A Node process needs one instance;
 * 8192 watches was the kernel's per-user default for years. */
#define LBOX_SANDBOX_INOTIFY_INSTANCES "32"
#define LBOX_SANDBOX_INOTIFY_WATCHES "8192"

/* Fixed fd numbers inside pid 1 (everything else is closed right after the clone). */
#define LBOX_FD_CMD 3     /* SOCK_SEQPACKET to the runner: requests and replies */
#define LBOX_FD_EVENT 4   /* SOCK_SEQPACKET to the runner: exit events, pid 1 -> runner only */
#define LBOX_FD_SOCKET 5  /* SOCK_SEQPACKET to the runner: lbox_sandbox_tcp_socket only, so
                           * that call needs no turn on LBOX_FD_CMD (see client.c) */
#define LBOX_FD_ROOTFS 6  /* O_PATH of the image root, closed after the pivot */
#define LBOX_FD_BIND0 7   /* O_PATH of bind sources (7..7+nbinds-1), closed after the pivot */

/* Largest request (argv + envp + cwd): Lambda caps user env at 4 KB; this leaves room. */
#define LBOX_MSG_MAX (128 * 1024)
#define LBOX_ARGS_MAX 1024

/* ---- the plan: everything the sandbox side needs, computed before the clone ---- */
struct lbox_child_plan {
    bool as_root;              /* caller is uid 0: pid 1 drops groups, setres[ug]id(0) */
    bool host_network;
    bool nat_network;          /* READY also carries our user and network namespaces */
    char rootfs[PATH_MAX];     /* absolute path of the image root */
    uint16_t listen_port;
    unsigned tmp_size_mb;
    unsigned watchdog_mb;      /* >0: no cgroup; pid 1 kills all when total RSS exceeds it */
    char hostname[65];
    char tmp_opts[128];        /* "size=...m,mode=1777,uid=993,gid=990" */
    /* QEMU (foreign arch): register a private binfmt_misc entry when binfmt_private, else
     * rely on the host's registration (checked by the runner side before the clone). */
    bool qemu;
    bool binfmt_private;
    char binfmt_line[1024];    /* the line written to binfmt_misc/register */
    const struct sock_fprog *seccomp;  /* static storage of the runner, still mapped here */
    /* Read-write binds (build sandboxes): host source opened as LBOX_FD_BIND0 + i before
     * pid 1 drops to nobody; target relative to the new root ("var/task"). */
    unsigned nbinds;
    char bind_source[LBOX_SANDBOX_MAX_BINDS][PATH_MAX];
    char bind_target[LBOX_SANDBOX_MAX_BINDS][PATH_MAX];
    char qemu_cpu[32];         /* QEMU_CPU for foreign-arch execs; "" = QEMU's default */
    int cgroup_tasks_fd;       /* >= 0: cgroup v1 "tasks" file, the child moves itself */
};

/* ---- protocol on LBOX_FD_CMD / LBOX_FD_EVENT (same machine, same ABI: plain structs) ---- */
enum lbox_msg_type {
    LBOX_MSG_GO = 1,        /* runner -> child: id maps written, build the sandbox */
    LBOX_MSG_READY,         /* child -> runner: set up (+ listen fd) or failed (err, text) */
    LBOX_MSG_IN_CGROUP,     /* runner -> child: moved into the sandbox's cgroup */
    LBOX_MSG_EXEC,          /* runner -> pid 1: payload = cwd, argv, envp (+ stdout, stderr) */
    LBOX_MSG_EXEC_REPLY,    /* pid 1 -> runner: ns pid (+ SCM_CREDENTIALS: host pid) */
    LBOX_MSG_KILL,          /* runner -> pid 1: kill all but pid 1, reap them */
    LBOX_MSG_KILL_REPLY,
    LBOX_MSG_PEAK,          /* runner -> pid 1: measured peak (no cgroup) */
    LBOX_MSG_PEAK_RESET,
    LBOX_MSG_PEAK_REPLY,
    LBOX_MSG_EXITED,        /* pid 1 -> runner (event fd): an exec'd process ended */
    LBOX_MSG_SIGNAL,        /* runner -> pid 1: signal (value) to the group of ns pid (argc) */
    LBOX_MSG_SIGNAL_REPLY,  /* err ESRCH: that process has ended (reaped) */
    LBOX_MSG_TCP_SOCKET,    /* runner -> pid 1 (LBOX_FD_SOCKET): a TCP socket, please */
    LBOX_MSG_TCP_SOCKET_REPLY, /* pid 1 -> runner: the socket (SCM_RIGHTS), or err */
};

struct lbox_msg_head {
    uint32_t type;
    int32_t err;            /* errno of the failure, 0 = success */
    int64_t value;          /* ns pid, wait status, bytes... depending on type */
    uint32_t argc, envc;    /* EXEC: counts of the NUL-separated strings that follow */
    char text[512];         /* failure message (NUL-terminated) */
};

/* ---- runner side ---- */

/* The runtime and Lambda's 10 extensions fit, with room. */
#define LBOX_SANDBOX_PROCS 32

struct lbox_sandbox {
    pid_t init_pid;         /* host pid of the sandbox's pid 1 */
    int cmd_fd;             /* runner end of LBOX_FD_CMD (SO_PASSCRED set) */
    int event_fd;           /* runner end of LBOX_FD_EVENT */
    /* Runner end of LBOX_FD_SOCKET, and the lock that keeps each request with its reply
     * when several threads ask at once (lbox_sandbox_tcp_socket, client.c). */
    int sock_fd;
    pthread_mutex_t sock_lock;
    pid_t cur_ns_pid;       /* the process started by the last lbox_sandbox_exec */
    /* Every process started since the last kill_procs, and how it ended once pid 1 said:
     * the runner asks after the runtime and each extension. Full, an ended one's slot is
     * taken again (the oldest first). */
    struct lbox_sandbox_proc {
        pid_t ns_pid, host_pid;
        bool exited;
        int status;
    } procs[LBOX_SANDBOX_PROCS];
    unsigned nprocs, next_slot;
    int last_exec_errno;    /* errno of the last exec's execve, 0 if it did not fail there */
    struct lbox_cgroup *cg;     /* defined below */
    struct lbox_memwatch *memwatch; /* a cgroup with /tmp kept outside the limit */
    struct lbox_nat *nat;       /* slirp4netns serving nat_network (nat_network.c) */
    struct lbox_child_plan *plan;
    char mode[1024];
    uid_t host_uid;             /* what pid 1's root, and so every process inside, is */
    gid_t host_gid;
    struct lbox_sandbox_ids own_ids; /* reserved by create (config without ids): released
                                      * with the sandbox */
};

/* The filter's two forms. Where no cgroup is usable, --memory is pid 1 watching its processes'
 * RSS, and memory a process need not map is in no RSS: a memfd or a SysV segment written and
 * left unmapped, SysV messages. That form refuses the calls that make such memory
 * (memfd_create, memfd_secret, shmget, msgget: EPERM), so the watch's count is the truth. */
enum lbox_filter { LBOX_FILTER_DEFAULT, LBOX_FILTER_RSS_WATCH };

/* Compiles the seccomp allow list in that form once per process; returns the BPF program. */
int lbox_seccomp_program(enum lbox_filter form, const struct sock_fprog **prog,
                         struct lbox_error *err);

/* Writes uid_map/gid_map (and setgroups) of the freshly cloned child `pid`: its root is the
 * host's uid:gid. */
int lbox_userns_write_maps(pid_t pid, bool as_root, uid_t uid, gid_t gid,
                           struct lbox_error *err);

/* cgroup: one directory per sandbox when a writable memory controller exists. */
enum lbox_cgroup_kind { LBOX_CG_NONE, LBOX_CG_V1, LBOX_CG_V2 };
struct lbox_cgroup {
    enum lbox_cgroup_kind kind;
    char dir[PATH_MAX];     /* the sandbox's cgroup directory */
    char mode[512];         /* lbox_sandbox_memory_mode() text */
    int peak_fd;            /* v2 memory.peak kept open: writing to it resets its view */
    uint64_t tmp_outside;   /* bytes the function may use outside /tmp, which memwatch.c
                             * enforces (the cgroup's limit includes /tmp); 0: no limit */
    int remover_fd;         /* closing it (or the runner's death) lets the remover go */
    pid_t remover_pid;
};
/* Always succeeds: when no cgroup is usable, kind = NONE and mode says why. */
void lbox_cgroup_create(struct lbox_cgroup *cg, unsigned memory_mb, unsigned tmp_mb);
int lbox_cgroup_attach(struct lbox_cgroup *cg, pid_t pid, struct lbox_error *err);
/* cgroup v1: the cgroup's "tasks" file, for the child to move itself into (see create.c,
 * C0); -1 on v2 or without a cgroup, where lbox_cgroup_attach does the move. */
int lbox_cgroup_open_tasks(struct lbox_cgroup *cg);
uint64_t lbox_cgroup_peak(struct lbox_cgroup *cg);
void lbox_cgroup_peak_reset(struct lbox_cgroup *cg);
/* Every cgroup has a remover: a process started with it that removes it once the runner
 * lets it go or dies (Ctrl-C, kill -9), so no exit of the runner leaves a cgroup behind.
 * destroy removes the cgroup now and waits; destroy_detached, for a runner about to exit,
 * leaves the removal (after the last processes are gone) to the remover. */
void lbox_cgroup_destroy(struct lbox_cgroup *cg);
void lbox_cgroup_destroy_detached(struct lbox_cgroup *cg);

/* systemd_scope.c: on cgroup v2 with no cgroup of ours to use, asks the user's systemd
 * manager over D-Bus for a transient scope delegated to us and holding this process.
 * present: whether a user bus is there to ask (no library is loaded to tell). enter: 0 once
 * this process is in the new scope, else -1 and why. */
bool lbox_systemd_user_bus_present(void);
int lbox_systemd_scope_enter(char *why, size_t whylen);

/* landlock.c: scopes abstract UNIX sockets and signals to the calling process's future
 * descendants. 0 applied, 1 not supported by this kernel, -1 error (errno). */
int lbox_landlock_scope(void);

/* nat_network.c: starts slirp4netns on the namespaces of the given fds (which the caller
 * keeps) and waits until the sandbox's tap0 is configured; lbox_nat_stop ends it. */
struct lbox_nat;
int lbox_nat_start(int userns_fd, int netns_fd, struct lbox_nat **nat, struct lbox_error *err);
void lbox_nat_stop(struct lbox_nat *nat);

/* memwatch.c: a runner thread that kills the sandbox's largest process when its memory
 * outside /tmp and the file cache (usage - shmem - file LRUs) passes `limit`; spare: pid 1,
 * never killed; tmp_fd: the sandbox's /tmp, taken over (closed by stop, or on failure). */
struct lbox_memwatch;
int lbox_memwatch_start(const char *cgroup_dir, bool v2, uint64_t limit, pid_t spare,
                        int tmp_fd, struct lbox_memwatch **out, struct lbox_error *err);
void lbox_memwatch_stop(struct lbox_memwatch *w);

/* binfmt: fills plan->qemu/binfmt_private/binfmt_line for a foreign-arch image, or fails
 * with the command that fixes the host. */
int lbox_binfmt_plan(struct lbox_child_plan *plan, const char *arch, const char *qemu_path,
                     struct lbox_error *err);

/* ---- sandbox side (no malloc; errors as errno + a static text through *what) ---- */

/* Builds the new root under a private staging tmpfs and pivots into it. */
int lbox_mounts_build(const struct lbox_child_plan *plan, const char **what);

/* Mounts a private binfmt_misc on <newroot>/proc/sys/fs/binfmt_misc and registers QEMU. */
int lbox_binfmt_register_private(const struct lbox_child_plan *plan, const char *mnt,
                                 const char **what);

/* Moves the calling process into a new user namespace where it is 993:990 (mapped to
 * pid 1's root). */
int lbox_userns_enter_user(void);

/* Loads the filter; the caller has already set no_new_privs. */
int lbox_seccomp_apply(const struct sock_fprog *prog);

/* pid 1: serves the runner until the command socket closes; never returns. */
void lbox_init_main(const struct lbox_child_plan *plan) __attribute__((noreturn));

/* Small no-malloc helpers for the sandbox side (init.c). */
int lbox_send_msg(int fd, const struct lbox_msg_head *h, const void *payload, size_t len,
                  const int *fds, int nfds);

/* Writes text to an existing file (proc, sysfs, cgroupfs) in one write(2); 0, or -1 with
 * errno. Async-signal-safe and malloc-free: the sandbox side calls it after clone. */
int lbox_write_text(const char *path, const char *text);

/* Reads a small file (proc, sysfs, cgroupfs) with one read(2) into buf, NUL-terminated;
 * 0, or -1 with errno. Malloc-free, like lbox_write_text. */
int lbox_read_text(const char *path, char *buf, size_t len);

#endif
