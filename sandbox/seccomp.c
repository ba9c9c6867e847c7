/* The sandbox's seccomp filter: compiled once per runner process with libseccomp, exported
 * as a classic BPF program, and loaded by each sandboxed process as its last step before
 * execve (after no_new_privs, so no capability is needed to load it).
 *
 * Policy, modelled on Docker's default profile:
 *  - anything not listed fails with EPERM;
 *  - the allow list below (ordinary process, file, memory, signal, socket, time and IPC
 *    calls) is what a Node.js runtime and its child processes use;
 *  - argument-checked: clone only without namespace flags, socket without AF_ALG/AF_VSOCK,
 *    personality only its query and the harmless personas (no ADDR_NO_RANDOMIZE);
 *  - where --memory is the RSS watch (no cgroup), memfd_create, memfd_secret, shmget and
 *    msgget are refused too: what they make need not be mapped, so no RSS shows it;
 *  - clone3 answers ENOSYS: its flags sit behind a pointer that BPF cannot read, and glibc
 *    falls back to clone only on ENOSYS;
 *  - Linux AIO (io_setup and the rest) answers ENOSYS, as on a kernel built without it:
 *    its contexts come out of one counter for the whole host (fs.aio-max-nr), which a
 *    function could take for its whole timeout. Node and libuv do not use it, and libaio's
 *    users take ENOSYS for "not supported";
 *  - never allowed (missing from the list on purpose): mount, umount2, the new mount API
 *    (fsopen, fsmount, fsconfig, fspick, move_mount, open_tree, mount_setattr), pivot_root,
 *    chroot, unshare, setns, ptrace, process_vm_readv/writev, kcmp, pidfd_getfd, kexec_load,
 *    kexec_file_load, bpf, perf_event_open, keyctl, add_key, request_key, init_module,
 *    finit_module, delete_module, reboot, swapon, swapoff, acct, userfaultfd,
 *    open_by_handle_at, io_uring_setup/enter/register, quotactl, syslog, sethostname,
 *    setdomainname, settimeofday, clock_settime, iopl, ioperm, modify_ldt, lookup_dcookie,
 *    fanotify_init, vhangup, get/set_mempolicy, mbind, move_pages, nfsservctl, uselib, ustat,
 *    sysfs, _sysctl.
 *
 * QEMU (foreign-arch images): the filter sees QEMU's own host syscalls, not the guest's.
 * A trace of qemu-aarch64-static running a shell, fork/exec and sleep used only calls
 * already on the list: access arch_prctl brk clock_nanosleep clone clone3(→ENOSYS, glibc
 * then uses clone) close dup3 execve fcntl futex getcwd getdents64 get[e][ug]id getpid
 * getppid getrandom gettid ioctl lseek madvise mmap mprotect munmap newfstatat openat prctl
 * pread64 prlimit64 read readlink rseq rt_sigaction rt_sigprocmask rt_sigreturn
 * rt_sigsuspend set_robust_list set_tid_address sysinfo uname wait4 write. Guest threads
 * are host clone() calls without namespace flags; guest seccomp() is not emulated by QEMU
 * (the guest gets ENOSYS), so the host filter is the only one. So no extra call is opened
 * for QEMU. */
#include "internal.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox.h"

/* Allowed without argument checks. Names this libseccomp or this architecture does not know
 * are skipped (32-bit-only variants, calls newer than the library). */
static const char *const allowed[] = {
    /* processes, threads, identity */
    "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid",
    "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid",
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32",
    "getgroups32", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setfsuid", "setfsgid", "setgroups", "setuid32", "setgid32", "setreuid32", "setregid32",
    "setresuid32", "setresgid32", "setfsuid32", "setfsgid32", "setgroups32",
    "capget", "capset", "prctl", "arch_prctl", "set_tid_address", "set_robust_list",
    "get_robust_list", "rseq", "set_thread_area", "get_thread_area", "seccomp",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    "getrlimit", "setrlimit", "prlimit64", "ugetrlimit", "getrusage", "getpriority",
    "setpriority", "times", "sysinfo", "uname", "umask", "getcpu", "restart_syscall",
    "pidfd_open", "pidfd_send_signal", "process_mrelease", "ioprio_get", "ioprio_set",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    /* memory */
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "membarrier", "memfd_create",
    "memfd_secret", "remap_file_pages", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "map_shadow_stack", "mseal",
    /* signals */
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigreturn", "sigprocmask",
    "signalfd", "signalfd4", "pause", "alarm", "getitimer", "setitimer",
    /* time */
    "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
    "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "gettimeofday", "time",
    "adjtimex", "clock_adjtime", "clock_adjtime64", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64",
    /* files and descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2",
    "dup3", "lseek", "_llseek", "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync",
    "sync", "syncfs", "sync_file_range", "fadvise64", "fadvise64_64", "readahead",
    "fallocate", "truncate", "truncate64", "ftruncate", "ftruncate64", "stat", "stat64",
    "lstat", "lstat64", "fstat", "fstat64", "newfstatat", "fstatat64", "statx", "statfs",
    "statfs64", "fstatfs", "fstatfs64", "access", "faccessat", "faccessat2", "getcwd",
    "chdir", "fchdir", "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "rename",
    "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat",
    "readlink", "readlinkat", "mknod", "mknodat", "chmod", "fchmod", "fchmodat", "fchmodat2",
    "chown", "fchown", "fchownat", "lchown", "chown32", "fchown32", "lchown32", "utime",
    "utimes", "utimensat", "utimensat_time64", "futimesat", "name_to_handle_at",
    "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr",
    "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
    "copy_file_range", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "pipe", "pipe2",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "fanotify_mark", "eventfd", "eventfd2", "poll", "ppoll", "ppoll_time64", "select",
    "_newselect", "pselect6", "pselect6_time64", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait",
    "epoll_pwait2",
    /* futexes */
    "futex", "futex_time64", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
    /* sockets (socket() itself is argument-checked below) */
    "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto", "sendmsg",
    "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "socketcall",
    /* System V and POSIX IPC (private: the sandbox has its own ipc namespace) */
    "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
    "getrandom",
};

#define CLONE_NS_FLAGS                                                                      \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |         \
     CLONE_NEWPID | CLONE_NEWNET)

/* personality(2) values Docker allows: PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26
 * and the query 0xffffffff. */
static const unsigned long personalities[] = {0x0, 0x0008, 0x20000, 0x20008, 0xffffffffUL};

/* Answer ENOSYS (see the top). */
static const char *const not_implemented[] = {
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64",
};

/* Allowed except in the RSS-watch form (internal.h, enum lbox_filter). */
static const char *const unmapped_memory[] = {"memfd_create", "memfd_secret", "shmget", "msgget"};

static bool named(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return true;
    return false;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct compiled {
    bool done;
    struct sock_fprog prog;
    unsigned allowed;       /* syscall numbers allowed on this arch (for the docs) */
    char failure[512];
} compiled[LBOX_FILTER_RSS_WATCH + 1]; /* one per form */

static int add_rules(scmp_filter_ctx ctx, enum lbox_filter form, unsigned *count, char *why,
                     size_t whylen)
{
    unsigned n = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (form == LBOX_FILTER_RSS_WATCH &&
            named(allowed[i], unmapped_memory, sizeof unmapped_memory / sizeof unmapped_memory[0]))
            continue;
        int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, allowed[i]);
        if (nr < 0)
            continue; /* not a syscall of this architecture or unknown to this libseccomp */
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc < 0) {
            snprintf(why, whylen, "allow %s: %s", allowed[i], strerror(-rc));
            return -1;
        }
        n++;
    }
    int rc;
    /* clone: no namespace flags (arg 0 holds the flags on every arch we run on). */
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0));
    if (rc < 0)
        goto fail;
    n++;
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < sizeof not_implemented / sizeof not_implemented[0]; i++) {
        int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, not_implemented[i]);
        if (nr >= 0 && (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) < 0)
            goto fail;
    }
    /* socket: every family except AF_ALG (kernel crypto) and AF_VSOCK (hypervisor). */
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                          SCMP_A0(SCMP_CMP_LT, AF_ALG));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_EQ, AF_ALG + 1));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_GT, AF_VSOCK));
    if (rc < 0)
        goto fail;
    n++;
    for (size_t i = 0; i < sizeof personalities / sizeof personalities[0]; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                              SCMP_A0(SCMP_CMP_EQ, personalities[i]));
        if (rc < 0)
            goto fail;
    }
    n++;
    *count = n;
    return 0;
fail:
    snprintf(why, whylen, "argument rule: %s", strerror(-rc));
    return -1;
}

static int compile(enum lbox_filter form, struct compiled *out, char *why, size_t whylen)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx) {
        snprintf(why, whylen, "seccomp_init failed");
        return -1;
    }
    int rc = -1, fd = -1;
    /* Only the native ABI: a 32-bit (or x32) syscall from inside is killed by libseccomp's
     * bad-arch action instead of reaching a second, less reviewed syscall table. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* binary tree: fast for long lists */
    if (add_rules(ctx, form, &out->allowed, why, whylen) < 0)
        goto out;
    fd = memfd_create("lbox-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "memfd_create: %s", strerror(errno));
        goto out;
    }
    int e = seccomp_export_bpf(ctx, fd);
    if (e < 0) {
        snprintf(why, whylen, "seccomp_export_bpf: %s", strerror(-e));
        goto out;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(struct sock_filter) != 0 ||
        size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        snprintf(why, whylen, "exported filter has a bad size (%lld bytes)", (long long)size);
        goto out;
    }
    struct sock_filter *insns = malloc((size_t)size);
    if (!insns) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (pread(fd, insns, (size_t)size, 0) != size) {
        snprintf(why, whylen, "reading the exported filter: %s", strerror(errno));
        free(insns);
        goto out;
    }
    out->prog.len = (unsigned short)(size / sizeof(struct sock_filter));
    out->prog.filter = insns; /* kept for the life of the process */
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return rc;
}

int lbox_seccomp_program(enum lbox_filter form, const struct sock_fprog **prog,
                         struct lbox_error *err)
{
    struct compiled *c = &compiled[form];
    pthread_mutex_lock(&lock);
    if (!c->done) {
        if (compile(form, c, c->failure, sizeof c->failure) < 0 && !c->failure[0])
            snprintf(c->failure, sizeof c->failure, "unknown failure");
        c->done = true;
    }
    pthread_mutex_unlock(&lock);
    if (!c->prog.filter)
        return lbox_err(err, LBOX_E_SYS,
                        "compiling the sandbox's seccomp filter: %s (is libseccomp >= 2.5 "
                        "installed? scripts/install-deps.sh lists it)",
                        c->failure);
    *prog = &c->prog;
    return 0;
}

unsigned lbox_sandbox_seccomp_allowed(void)
{
    const struct sock_fprog *p;
    if (lbox_seccomp_program(LBOX_FILTER_DEFAULT, &p, NULL) < 0)
        return 0;
    return compiled[LBOX_FILTER_DEFAULT].allowed;
}

int lbox_seccomp_apply(const struct sock_fprog *prog)
{
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0);
}

static void *compile_in_background(void *unused)
{
    (void)unused;
    const struct sock_fprog *prog;
    struct lbox_error ignored; /* lbox_sandbox_create reports a failure */
    lbox_seccomp_program(LBOX_FILTER_DEFAULT, &prog, &ignored);
    /* Without root a cgroup is often not usable, and the sandbox then takes the RSS-watch
     * form (create.c): compile it too while the caller is still busy, not on its path. */
    if (geteuid() != 0)
        lbox_seccomp_program(LBOX_FILTER_RSS_WATCH, &prog, &ignored);
    return NULL;
}

void lbox_sandbox_prepare(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, compile_in_background, NULL) == 0)
        pthread_detach(t);
}
