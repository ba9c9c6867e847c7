/* pid 1 of a sandbox: reaps every process, starts the ones the runner asks for, kills them
 * all on request, reports exits, (without a cgroup) measures and caps memory, and makes TCP
 * sockets in the sandbox's network namespace for the runner. It is the C code of the
 * runner's clone, never exec'd, and keeps its capabilities inside the user namespace; it
 * never runs anything the sandbox sends, only what arrives on LBOX_FD_CMD and
 * LBOX_FD_SOCKET, which only the runner holds. Sandbox side: no malloc (see internal.h).
 *
 * The processes it starts: own session and process group, stdin /dev/null, stdout/stderr
 * from the runner, rlimits, no capabilities (bounding, ambient, effective, permitted,
 * inheritable), no_new_privs, default signal state, every other fd closed, then the seccomp
 * filter and execve with exactly the runner's argv/envp. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRACK_MAX 64
#define WATCHDOG_MS 50

static char payload[LBOX_MSG_MAX];
static char *args[LBOX_ARGS_MAX + 1], *envs[LBOX_ARGS_MAX + 1];
static pid_t tracked[TRACK_MAX];
static uint64_t reaped_peak;      /* largest ru_maxrss of a reaped process since reset */
static const struct lbox_child_plan *plan;

/* ---------- messages ---------- */

int lbox_send_msg(int fd, const struct lbox_msg_head *h, const void *data, size_t len,
                  const int *fds, int nfds)
{
    struct iovec iov[2] = {{(void *)h, sizeof *h}, {(void *)data, len}};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

/* Reply carrying the started process's pid as SCM_CREDENTIALS: the kernel translates it
 * into the runner's pid namespace, which is how the runner learns the host pid. pid 1 may
 * name another pid because it holds CAP_SYS_ADMIN over its pid namespace. */
static void send_with_pid(int fd, const struct lbox_msg_head *h, pid_t pid)
{
    struct iovec iov = {(void *)h, sizeof *h};
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cr = {.pid = pid, .uid = getuid(), .gid = getgid()};
    memcpy(CMSG_DATA(c), &cr, sizeof cr);
    if (sendmsg(fd, &m, MSG_NOSIGNAL) < 0)
        lbox_send_msg(fd, h, NULL, 0, NULL, 0); /* still answer, without the host pid */
}

static void reply(uint32_t type, int err, int64_t value, const char *text)
{
    struct lbox_msg_head h = {.type = type, .err = err, .value = value};
    if (text)
        strncpy(h.text, text, sizeof h.text - 1);
    lbox_send_msg(LBOX_FD_CMD, &h, NULL, 0, NULL, 0);
}

/* ---------- reaping ---------- */

static void track(pid_t pid)
{
    for (int i = 0; i < TRACK_MAX; i++)
        if (!tracked[i]) {
            tracked[i] = pid;
            return;
        }
}

static bool any_tracked(void)
{
    for (int i = 0; i < TRACK_MAX; i++)
        if (tracked[i])
            return true;
    return false;
}

static bool is_tracked(pid_t pid)
{
    for (int i = 0; pid > 0 && i < TRACK_MAX; i++)
        if (tracked[i] == pid)
            return true;
    return false;
}

static void reaped(pid_t pid, int status, const struct rusage *ru)
{
    uint64_t rss = (uint64_t)ru->ru_maxrss * 1024;
    if (rss > reaped_peak)
        reaped_peak = rss;
    for (int i = 0; i < TRACK_MAX; i++)
        if (tracked[i] == pid) {
            tracked[i] = 0;
            struct lbox_msg_head h = {.type = LBOX_MSG_EXITED, .err = 0, .value = status};
            h.argc = (uint32_t)pid;
            lbox_send_msg(LBOX_FD_EVENT, &h, NULL, 0, NULL, 0);
        }
}

static void reap_nohang(void)
{
    int st;
    struct rusage ru;
    pid_t pid;
    while ((pid = wait4(-1, &st, WNOHANG, &ru)) > 0)
        reaped(pid, st, &ru);
}

/* kill(-1) from pid 1 reaches every other process of the pid namespace; orphans are ours
 * to reap, so waiting until ECHILD means they are all gone. */
static void kill_all(void)
{
    int st, n = 0;
    struct rusage ru;
    pid_t pid;
    kill(-1, SIGKILL);
    while ((pid = wait4(-1, &st, 0, &ru)) > 0 || (pid < 0 && errno == EINTR)) {
        if (pid > 0)
            reaped(pid, st, &ru);
        if (++n % 64 == 0)
            kill(-1, SIGKILL); /* anything forked while we were reaping */
    }
}

/* ---------- /proc scanning for memory (no cgroup) ---------- */

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Calls fn(pid) for each process but pid 1. */
static void for_each_pid(void (*fn)(const char *pid, uint64_t *acc), uint64_t *acc)
{
    char buf[4096];
    int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    long n;
    while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0)
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] >= '1' && d->d_name[0] <= '9' && strcmp(d->d_name, "1"))
                fn(d->d_name, acc);
        }
    close(dfd);
}

static ssize_t read_proc(const char *pid, const char *file, char *buf, size_t len)
{
    char path[64];
    strcpy(path, "/proc/");
    strcat(path, pid);
    strcat(path, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

/* The value in kB of the /proc/<pid>/status field KEY ("RssAnon:"), in bytes; 0 when
 * absent. Matched at the start of a line only: the first line is the process's own name,
 * which it sets at will (prctl PR_SET_NAME) to anything, "RssAnon:0" included; the kernel
 * escapes a newline in it, so no name can start a line of its own. */
static uint64_t status_field(const char *buf, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = buf; line;) {
        if (strncmp(line, key, klen) == 0)
            return strtoull(line + klen, NULL, 10) * 1024;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

/* Anonymous plus shared-memory pages (RssAnon + RssShmem): what a memory cgroup would
 * charge, less the files' pages (libraries, the node binary) that the kernel can drop.
 * Shared memory (/dev/shm, memfd, MAP_SHARED) counts: it is the function's memory. A
 * segment several processes map counts once for each, erring on the side of the limit. */
static void add_rss(const char *pid, uint64_t *acc)
{
    char buf[4096];
    if (read_proc(pid, "/status", buf, sizeof buf) <= 0)
        return;
    *acc += status_field(buf, "RssAnon:") + status_field(buf, "RssShmem:");
}

static void add_hwm(const char *pid, uint64_t *acc)
{
    char buf[4096];
    if (read_proc(pid, "/status", buf, sizeof buf) <= 0)
        return;
    *acc += status_field(buf, "VmHWM:");
}

static void clear_hwm(const char *pid, uint64_t *acc)
{
    (void)acc;
    char path[64];
    strcpy(path, "/proc/");
    strcat(path, pid);
    strcat(path, "/clear_refs");
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "5", 1) < 0) { /* "5": reset the peak RSS (VmHWM) */ }
        close(fd);
    }
}

/* Without a cgroup: the sum of live processes' peaks, or the largest reaped one. */
static uint64_t measured_peak(void)
{
    uint64_t live = 0;
    for_each_pid(add_hwm, &live);
    return live > reaped_peak ? live : reaped_peak;
}

static void watchdog(void)
{
    uint64_t rss = 0;
    for_each_pid(add_rss, &rss);
    if (rss > ((uint64_t)plan->watchdog_mb << 20)) {
        if (rss > reaped_peak)
            reaped_peak = rss;
        kill_all(); /* the runner sees its process end with SIGKILL, as after an OOM kill */
    }
}

/* ---------- starting a process ---------- */

struct exec_failure {
    int32_t step;  /* index into exec_steps */
    int32_t err;
};

static const char *const exec_steps[] = {
    "setting up stdin/stdout/stderr", "setting rlimits", "entering the user namespace as 993:990",
    "setting no_new_privs", "changing to the working directory", "loading the seccomp filter",
    "execve",
};

static void drop_caps(void)
{
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
            break;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0)
        _exit(127); /* never run anything with a capability left */
}

static int set_limit(int res, rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(res, &rl) < 0)
        return -1;
    /* Raising a hard limit needs host privilege; a lower hard limit stays. */
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        want = rl.rlim_max;
    rl.rlim_cur = rl.rlim_max = want;
    return setrlimit(res, &rl);
}

/* A share of a per-user budget (queued signals, POSIX message queue bytes). The kernel
 * charges them up the chain of user namespaces to the user who ran lbox, against the limits
 * that user had; a user namespace created after this takes these as its own, so what runs
 * in it cannot take more than this share, and the user keeps the rest. */
static int set_share(int res, rlim_t divisor)
{
    struct rlimit rl;
    if (getrlimit(res, &rl) < 0)
        return -1;
    if (rl.rlim_cur == RLIM_INFINITY) /* an unlimited budget cannot run out */
        return 0;
    rl.rlim_cur = rl.rlim_max = rl.rlim_cur / divisor;
    return setrlimit(res, &rl);
}

static const char *env_path(char **envp)
{
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, "PATH=", 5))
            return *e + 5;
    return "/usr/local/bin:/usr/bin:/bin";
}

/* execve, with a PATH search (from the given environment) for a bare name. */
static int exec_search(char **argv, char **envp)
{
    if (strchr(argv[0], '/'))
        return execve(argv[0], argv, envp);
    char full[4096];
    int best = ENOENT;
    for (const char *p = env_path(envp); *p;) {
        size_t n = strcspn(p, ":");
        if (n && n + 1 + strlen(argv[0]) < sizeof full) {
            memcpy(full, p, n);
            full[n] = '/';
            strcpy(full + n + 1, argv[0]);
            execve(full, argv, envp);
            if (errno == EACCES)
                best = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR)
                return -1;
        }
        p += n + (p[n] == ':');
    }
    errno = best;
    return -1;
}

static void child_fail(int wfd, int step)
{
    struct exec_failure f = {step, errno};
    if (write(wfd, &f, sizeof f) < 0) { /* the runner then sees only the exit */ }
    _exit(127);
}

static void exec_child(const char *cwd, int out, int errfd, int fd3, int wfd)
{
    sigset_t none;
    sigemptyset(&none);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();

    /* fds: move ours above the std range, then 0 1 2 (and 3 when given) and close
     * everything else. */
    int o = fcntl(out, F_DUPFD, 100), e = fcntl(errfd, F_DUPFD, 100);
    int t = fd3 >= 0 ? fcntl(fd3, F_DUPFD, 100) : 100;
    int w = fcntl(wfd, F_DUPFD_CLOEXEC, 100);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (o < 0 || e < 0 || t < 0 || w < 0 || null < 0 || dup2(null, 0) < 0 || dup2(o, 1) < 0 ||
        dup2(e, 2) < 0 || (fd3 >= 0 && dup2(t, 3) < 0))
        child_fail(w >= 0 ? w : wfd, 0);
    int keep = fd3 >= 0 ? 4 : 3;
    syscall(SYS_close_range, keep, w - 1, 0);
    syscall(SYS_close_range, w + 1, ~0U, 0);

    /* rlimits before the user namespace: its process limit is copied from ours. */
    if (set_limit(RLIMIT_NOFILE, LBOX_SANDBOX_NOFILE) < 0 ||
        set_limit(RLIMIT_NPROC, LBOX_SANDBOX_NPROC) < 0 ||
        /* No core dumps, for good: where the host pipes them to a helper (systemd-coredump,
         * apport), that helper would run as host root for the sandbox's crashes. */
        set_limit(RLIMIT_CORE, 0) < 0 ||
        set_share(RLIMIT_SIGPENDING, LBOX_SANDBOX_SHARE) < 0 ||
        set_share(RLIMIT_MSGQUEUE, LBOX_SANDBOX_SHARE) < 0)
        child_fail(w, 1);
    /* Dumpable so that our /proc/self map files belong to us, then 993:990 in a namespace of our
     * own (its capabilities are dropped right after). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    /* The OOM killer picks what we run before pid 1 (whose death would end the sandbox). */
    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) {
        if (write(oom, "500", 3) < 0) { /* best effort */ }
        close(oom);
    }
    if (lbox_userns_enter_user() < 0)
        child_fail(w, 2);
    drop_caps();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(w, 3);
    if (chdir(cwd) < 0)
        child_fail(w, 4);
    umask(022);
    /* Last before execve: from here on only the allow list. */
    if (lbox_seccomp_apply(plan->seccomp) < 0)
        child_fail(w, 5);
    exec_search(args, envs);
    child_fail(w, 6);
}

/* Splits "cwd\0argv...\0envp...\0" into the static arrays; -1 if malformed. */
static int parse_exec(size_t len, uint32_t argc, uint32_t envc, const char **cwd)
{
    if (argc < 1 || argc > LBOX_ARGS_MAX || envc > LBOX_ARGS_MAX || !len ||
        payload[len - 1] != 0)
        return -1;
    char *p = payload, *end = payload + len;
    *cwd = p;
    p += strlen(p) + 1;
    for (uint32_t i = 0; i < argc + envc; i++) {
        if (p >= end)
            return -1;
        if (i < argc)
            args[i] = p;
        else
            envs[i - argc] = p;
        p += strlen(p) + 1;
    }
    args[argc] = NULL;
    envs[envc] = NULL;
    return 0;
}

static void do_exec(const struct lbox_msg_head *h, size_t len, const int *fds, int nfds)
{
    const char *cwd;
    int pfd[2];
    if ((nfds != 2 && nfds != 3) || parse_exec(len, h->argc, h->envc, &cwd) < 0) {
        reply(LBOX_MSG_EXEC_REPLY, EINVAL, 0, "malformed exec request");
        return;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        reply(LBOX_MSG_EXEC_REPLY, errno, 0, "pipe for the exec status");
        return;
    }
    /* A plain fork (raw clone: no atfork handlers, no malloc locks touched). */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        close(pfd[0]);
        exec_child(cwd, fds[0], fds[1], nfds == 3 ? fds[2] : -1, pfd[1]);
    }
    int fork_err = errno;
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        reply(LBOX_MSG_EXEC_REPLY, fork_err, 0, "fork (the sandbox may be at its 1024 processes)");
        return;
    }
    struct exec_failure f;
    ssize_t n;
    do
        n = read(pfd[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n == (ssize_t)sizeof f) {
        int st;
        struct rusage ru;
        while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
            ;
        int step = f.step >= 0 && f.step < (int)(sizeof exec_steps / sizeof exec_steps[0])
                       ? f.step : 6;
        reply(LBOX_MSG_EXEC_REPLY, f.err ? f.err : EIO, 0, exec_steps[step]);
        return;
    }
    track(pid);
    struct lbox_msg_head r = {.type = LBOX_MSG_EXEC_REPLY, .value = pid};
    send_with_pid(LBOX_FD_CMD, &r, pid);
}

/* ---------- the loop ---------- */

static void serve_request(void)
{
    struct lbox_msg_head h;
    int fds[4], nfds = 0;
    struct iovec iov[2] = {{&h, sizeof h}, {payload, sizeof payload}};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(LBOX_FD_CMD, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0)
        _exit(0); /* the runner is gone: pid 1's exit takes the whole namespace down */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k && nfds < 4; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    if ((size_t)n < sizeof h || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        reply(LBOX_MSG_EXEC_REPLY, EINVAL, 0, "truncated request");
    } else {
        switch (h.type) {
        case LBOX_MSG_EXEC:
            do_exec(&h, (size_t)n - sizeof h, fds, nfds);
            break;
        case LBOX_MSG_KILL:
            kill_all();
            reply(LBOX_MSG_KILL_REPLY, 0, 0, NULL);
            break;
        case LBOX_MSG_PEAK:
            reply(LBOX_MSG_PEAK_REPLY, 0, (int64_t)measured_peak(), NULL);
            break;
        case LBOX_MSG_SIGNAL: {
            /* Sent here, not by the runner: a process we have not reaped yet keeps its pid
             * (a zombie at worst), so the signal cannot reach another process that was
             * given the pid after it. Reaping happens only in this same loop. */
            pid_t target = (pid_t)h.argc;
            int e = !is_tracked(target) ? ESRCH : kill(-target, (int)h.value) < 0 ? errno : 0;
            reply(LBOX_MSG_SIGNAL_REPLY, e, 0, NULL);
            break;
        }
        case LBOX_MSG_PEAK_RESET: {
            uint64_t none = 0;
            for_each_pid(clear_hwm, &none);
            reaped_peak = 0;
            reply(LBOX_MSG_PEAK_REPLY, 0, 0, NULL);
            break;
        }
        default:
            reply(h.type, EINVAL, 0, "unknown request");
        }
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
}

/* One request on LBOX_FD_SOCKET: a TCP socket made here belongs to the sandbox's network
 * namespace, which the runner cannot enter, and the runner connects it to a listener of the
 * sandbox's processes. Made blocking: O_NONBLOCK belongs to the file, which the runner
 * gets. Our copy is closed at once, so no process started later could inherit it (nor
 * could it: they close every fd but their stdio). Any fd sent along with a request is
 * dropped by the kernel, as recv takes no control data. Returns false once the runner's
 * end is closed: the channel is then done (the command socket's EOF is what ends us). */
static bool serve_socket_request(void)
{
    struct lbox_msg_head h;
    ssize_t n = recv(LBOX_FD_SOCKET, &h, sizeof h, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    struct lbox_msg_head r = {.type = LBOX_MSG_TCP_SOCKET_REPLY};
    if (n != (ssize_t)sizeof h || h.type != LBOX_MSG_TCP_SOCKET) {
        r.err = EINVAL;
        strcpy(r.text, "malformed socket request");
        lbox_send_msg(LBOX_FD_SOCKET, &r, NULL, 0, NULL, 0);
        return true;
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        r.err = errno;
        strcpy(r.text, "socket");
        lbox_send_msg(LBOX_FD_SOCKET, &r, NULL, 0, NULL, 0);
        return true;
    }
    lbox_send_msg(LBOX_FD_SOCKET, &r, NULL, 0, &s, 1);
    close(s);
    return true;
}

/* pid 1 is a copy of the runner, so its /proc/1/cmdline would show the runner's command
 * line (which may hold secrets from --env) to everything in the sandbox. Blank our copy of
 * the argument area, whose bounds /proc/self/stat gives (fields 48 and 49). */
static void hide_runner_cmdline(void)
{
    char buf[1024];
    if (read_proc("self", "/stat", buf, sizeof buf) <= 0)
        return;
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 48; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return;
    char *end;
    unsigned long start = strtoul(p + 1, &end, 10), stop = strtoul(end, NULL, 10);
    if (start && stop > start && stop - start < (1UL << 20)) {
        memset((void *)start, 0, stop - start);
        if (stop - start > sizeof "lbox-init")
            memcpy((void *)start, "lbox-init", sizeof "lbox-init");
    }
    prctl(PR_SET_NAME, "lbox-init", 0, 0, 0);
}

void lbox_init_main(const struct lbox_child_plan *p)
{
    plan = p;
    hide_runner_cmdline();
    /* Not dumpable: the sandboxed processes (same uid, fewer capabilities) cannot open
     * /proc/1/mem or similar. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* Before anything starts: abstract sockets and signals stay inside the sandbox even
     * when it shares the host's network (landlock.c). An older kernel goes without. */
    if (lbox_landlock_scope() < 0)
        _exit(1);
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        _exit(1);

    int sock_chan = LBOX_FD_SOCKET; /* -1 once the runner closed it: poll skips it */
    for (;;) {
        struct pollfd pf[3] = {{LBOX_FD_CMD, POLLIN, 0}, {sfd, POLLIN, 0},
                               {sock_chan, POLLIN, 0}};
        int timeout = plan->watchdog_mb && any_tracked() ? WATCHDOG_MS : -1;
        int r = poll(pf, 3, timeout);
        if (r < 0 && errno != EINTR)
            _exit(1);
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            reap_nohang();
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
            serve_request();
        if ((pf[2].revents & (POLLIN | POLLHUP | POLLERR)) && !serve_socket_request()) {
            close(LBOX_FD_SOCKET);
            sock_chan = -1;
        }
        if (plan->watchdog_mb && any_tracked())
            watchdog();
    }
}
