/* Runner-side requests to a sandbox's pid 1: start a process, watch it end, kill all,
 * memory peak. One request at a time per sandbox (the calls are not thread-safe for the
 * same sandbox; different sandboxes are independent), but for lbox_sandbox_tcp_socket,
 * which has a channel and a lock of its own: the Telemetry API's deliveries ask for it
 * from their own threads while the invoke thread uses the command channel. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "sandbox.h"

/* Waits for pid 1's answer of type `want`; *host_pid gets the SCM_CREDENTIALS pid. */
static int recv_reply(struct lbox_sandbox *sb, uint32_t want, struct lbox_msg_head *h,
                      pid_t *host_pid, struct lbox_error *err)
{
    struct iovec iov = {h, sizeof *h};
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sb->cmd_fd, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return lbox_err_errno(err, errno, "sandbox: reading from pid 1");
    if (n != (ssize_t)sizeof *h || h->type != want)
        return lbox_err(err, LBOX_E_SYS,
                        "sandbox: pid 1 is gone or answered out of turn (the sandbox was "
                        "killed?); destroy it and create a new one");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_CREDENTIALS && host_pid) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(c), sizeof cr);
            *host_pid = cr.pid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) { /* unexpected fds: don't leak them */
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
    }
    h->text[sizeof h->text - 1] = 0;
    return 0;
}

/* Sends the request `h` (no payload) and waits for its answer of type `want`. */
static int request_head(struct lbox_sandbox *sb, const struct lbox_msg_head *h, uint32_t want,
                        struct lbox_msg_head *reply, struct lbox_error *err)
{
    if (lbox_send_msg(sb->cmd_fd, h, NULL, 0, NULL, 0) < 0)
        return lbox_err_errno(err, errno, "sandbox: sending a request to pid 1");
    return recv_reply(sb, want, reply, NULL, err);
}

static int request(struct lbox_sandbox *sb, uint32_t type, uint32_t want,
                   struct lbox_msg_head *reply, struct lbox_error *err)
{
    struct lbox_msg_head h = {.type = type};
    return request_head(sb, &h, want, reply, err);
}

/* The slot of a started process, by its pid inside (ns_pid) or outside (host_pid); 0 is a
 * wildcard for the one not looked up by. */
static struct lbox_sandbox_proc *find_proc(struct lbox_sandbox *sb, pid_t ns_pid, pid_t host_pid)
{
    for (unsigned i = 0; i < sb->nprocs; i++) {
        struct lbox_sandbox_proc *p = &sb->procs[i];
        if ((!ns_pid || p->ns_pid == ns_pid) && (!host_pid || p->host_pid == host_pid))
            return p;
    }
    return NULL;
}

static void remember(struct lbox_sandbox *sb, pid_t ns_pid, pid_t host_pid)
{
    struct lbox_sandbox_proc *p = NULL;
    if (sb->nprocs < LBOX_SANDBOX_PROCS) {
        p = &sb->procs[sb->nprocs++];
    } else {
        /* Full: the oldest slot whose process has ended (else the oldest at all). */
        for (unsigned k = 0; k < LBOX_SANDBOX_PROCS && !p; k++) {
            unsigned i = (sb->next_slot + k) % LBOX_SANDBOX_PROCS;
            if (sb->procs[i].exited)
                p = &sb->procs[i];
        }
        if (!p)
            p = &sb->procs[sb->next_slot];
        sb->next_slot = (unsigned)(p - sb->procs + 1) % LBOX_SANDBOX_PROCS;
    }
    *p = (struct lbox_sandbox_proc){.ns_pid = ns_pid, .host_pid = host_pid};
}

static size_t add_str(char *buf, size_t at, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(buf + at, s, n);
    return at + n;
}

int lbox_sandbox_exec(struct lbox_sandbox *sb, const char *const *argv, const char *const *envp,
                      const char *cwd, int stdout_fd, int stderr_fd, pid_t *pid,
                      struct lbox_error *err)
{
    return lbox_sandbox_exec_fd3(sb, argv, envp, cwd, stdout_fd, stderr_fd, -1, pid, err);
}

int lbox_sandbox_exec_fd3(struct lbox_sandbox *sb, const char *const *argv,
                          const char *const *envp, const char *cwd, int stdout_fd, int stderr_fd,
                          int extra_fd, pid_t *pid, struct lbox_error *err)
{
    static const char *const no_env[] = {NULL};
    if (!envp)
        envp = no_env;
    if (!argv || !argv[0])
        return lbox_err(err, LBOX_E_INVAL, "sandbox: exec without a program");
    size_t len = strlen(cwd ? cwd : "/") + 1;
    uint32_t argc = 0, envc = 0;
    bool has_cpu = false;
    for (; argv[argc]; argc++)
        len += strlen(argv[argc]) + 1;
    for (; envp[envc]; envc++) {
        len += strlen(envp[envc]) + 1;
        has_cpu = has_cpu || !strncmp(envp[envc], "QEMU_CPU=", 9);
    }
    /* Foreign arch: QEMU reads its CPU model from the environment (see sandbox.h). */
    char cpu[48] = "";
    if (sb->plan->qemu && sb->plan->qemu_cpu[0] && !has_cpu) {
        snprintf(cpu, sizeof cpu, "QEMU_CPU=%s", sb->plan->qemu_cpu);
        len += strlen(cpu) + 1;
    }
    if (len > LBOX_MSG_MAX || argc > LBOX_ARGS_MAX || envc > LBOX_ARGS_MAX)
        return lbox_err(err, LBOX_E_LIMIT,
                        "sandbox: exec of %s: arguments and environment exceed %d bytes or "
                        "%d entries", argv[0], LBOX_MSG_MAX, LBOX_ARGS_MAX);
    char *buf = lbox_xmalloc(len);
    size_t at = add_str(buf, 0, cwd ? cwd : "/");
    for (uint32_t i = 0; i < argc; i++)
        at = add_str(buf, at, argv[i]);
    for (uint32_t i = 0; i < envc; i++)
        at = add_str(buf, at, envp[i]);
    if (cpu[0]) {
        at = add_str(buf, at, cpu);
        envc++;
    }

    struct lbox_msg_head h = {.type = LBOX_MSG_EXEC, .argc = argc, .envc = envc};
    int fds[3] = {stdout_fd, stderr_fd, extra_fd};
    int rc = lbox_send_msg(sb->cmd_fd, &h, buf, at, fds, extra_fd >= 0 ? 3 : 2);
    int e = errno;
    free(buf);
    if (rc < 0)
        return lbox_err_errno(err, e, "sandbox: sending the exec request for %s", argv[0]);
    pid_t host = 0;
    sb->last_exec_errno = 0;
    if (recv_reply(sb, LBOX_MSG_EXEC_REPLY, &h, &host, err) < 0)
        return -1;
    if (h.err) {
        if (!strcmp(h.text, "execve"))
            sb->last_exec_errno = h.err;
        return lbox_err_errno(err, h.err, "sandbox: starting %s (%s)", argv[0], h.text);
    }
    sb->cur_ns_pid = (pid_t)h.value;
    remember(sb, sb->cur_ns_pid, host);
    if (pid)
        *pid = host;
    return 0;
}

int lbox_sandbox_last_exec_errno(struct lbox_sandbox *sb)
{
    return sb->last_exec_errno;
}

/* Takes in what pid 1 has reported so far. Reports of processes killed before the last
 * kill_procs find no slot and are dropped. */
static int take_exit_reports(struct lbox_sandbox *sb, struct lbox_error *err)
{
    for (;;) {
        struct lbox_msg_head h;
        ssize_t n = recv(sb->event_fd, &h, sizeof h, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return lbox_err_errno(err, errno, "sandbox: reading exit events");
        if (n != (ssize_t)sizeof h || h.type != LBOX_MSG_EXITED)
            return lbox_err(err, LBOX_E_SYS, "sandbox: pid 1 is gone (the sandbox was killed?)");
        struct lbox_sandbox_proc *p = find_proc(sb, (pid_t)h.argc, 0);
        if (p) {
            p->exited = true;
            p->status = (int)h.value;
        }
    }
}

/* A report taken in stays good after pid 1 is gone (it reports, then may die). */
int lbox_sandbox_poll_exit(struct lbox_sandbox *sb, int *wstatus, struct lbox_error *err)
{
    int taken = take_exit_reports(sb, err);
    struct lbox_sandbox_proc *p = sb->cur_ns_pid > 0 ? find_proc(sb, sb->cur_ns_pid, 0) : NULL;
    if (!p || !p->exited)
        return taken < 0 ? -1 : 0;
    if (wstatus)
        *wstatus = p->status;
    return 1;
}

int lbox_sandbox_exit_status(struct lbox_sandbox *sb, pid_t pid, int *wstatus)
{
    int taken = take_exit_reports(sb, NULL);
    struct lbox_sandbox_proc *p = pid > 0 ? find_proc(sb, 0, pid) : NULL;
    if (!p || (!p->exited && taken < 0))
        return -1;
    if (p->exited && wstatus)
        *wstatus = p->status;
    return p->exited ? 1 : 0;
}

int lbox_sandbox_exit_fd(struct lbox_sandbox *sb)
{
    return sb->event_fd;
}

int lbox_sandbox_signal(struct lbox_sandbox *sb, pid_t pid, int sig, struct lbox_error *err)
{
    const struct lbox_sandbox_proc *p = find_proc(sb, 0, pid);
    if (!p || p->exited)
        return 1;
    struct lbox_msg_head h = {.type = LBOX_MSG_SIGNAL, .value = sig, .argc = (uint32_t)p->ns_pid};
    struct lbox_msg_head r;
    if (request_head(sb, &h, LBOX_MSG_SIGNAL_REPLY, &r, err) < 0)
        return -1;
    if (r.err == ESRCH)
        return 1;
    if (r.err)
        return lbox_err_errno(err, r.err, "sandbox: signal %d to process %d", sig, (int)pid);
    return 0;
}

int lbox_sandbox_kill_procs(struct lbox_sandbox *sb, struct lbox_error *err)
{
    struct lbox_msg_head h;
    int r = request(sb, LBOX_MSG_KILL, LBOX_MSG_KILL_REPLY, &h, err);
    /* Their reports were sent before the reply: take them in, then forget all but the last
     * one started, whose end poll_exit still tells. */
    take_exit_reports(sb, NULL);
    struct lbox_sandbox_proc *cur = sb->cur_ns_pid > 0 ? find_proc(sb, sb->cur_ns_pid, 0) : NULL;
    struct lbox_sandbox_proc keep = cur ? *cur : (struct lbox_sandbox_proc){0};
    sb->nprocs = sb->next_slot = 0;
    if (cur)
        sb->procs[sb->nprocs++] = keep;
    return r;
}

/* The larger of the cgroup's peak and the processes' own high-water marks: a cgroup is not
 * charged for file pages that were first read outside it (node's binary, unpacked by the
 * runner), which Lambda's figure includes, so the cgroup alone under-reports. */
uint64_t lbox_sandbox_memory_peak(struct lbox_sandbox *sb)
{
    uint64_t peak = 0;
    struct lbox_msg_head h;
    if (request(sb, LBOX_MSG_PEAK, LBOX_MSG_PEAK_REPLY, &h, NULL) == 0 && h.value > 0)
        peak = (uint64_t)h.value;
    if (sb->cg->kind != LBOX_CG_NONE) {
        uint64_t cg = lbox_cgroup_peak(sb->cg);
        if (cg > peak)
            peak = cg;
    }
    return peak;
}

void lbox_sandbox_memory_peak_reset(struct lbox_sandbox *sb)
{
    if (sb->cg->kind != LBOX_CG_NONE)
        lbox_cgroup_peak_reset(sb->cg);
    struct lbox_msg_head h;
    request(sb, LBOX_MSG_PEAK_RESET, LBOX_MSG_PEAK_REPLY, &h, NULL);
}

/* pid 1's answer on the socket channel: the one fd it sent, or the errno it failed with. */
static int recv_socket_reply(int fd, struct lbox_error *err)
{
    struct lbox_msg_head h;
    struct iovec iov = {&h, sizeof h};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return lbox_err_errno(err, errno, "sandbox: reading pid 1's answer to a socket request");
    int sock = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) { /* the first is the socket; more would leak */
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (sock < 0)
                sock = got;
            else
                close(got);
        }
    }
    bool in_turn = n == (ssize_t)sizeof h && h.type == LBOX_MSG_TCP_SOCKET_REPLY;
    if (in_turn && !h.err && sock >= 0)
        return sock;
    if (sock >= 0)
        close(sock);
    if (!in_turn)
        return lbox_err(err, LBOX_E_SYS,
                        "sandbox: pid 1 is gone or answered out of turn (the sandbox was "
                        "killed?); destroy it and create a new one");
    if (h.err) {
        h.text[sizeof h.text - 1] = 0;
        return lbox_err_errno(err, h.err, "sandbox: pid 1 making a TCP socket (%s)", h.text);
    }
    /* The kernel drops a passed fd that does not fit the receiver's fd table. */
    return lbox_err_errno(err, (m.msg_flags & MSG_CTRUNC) ? EMFILE : EPROTO,
                          "sandbox: receiving the TCP socket pid 1 made");
}

/* The sandbox's own network namespace is entered only by pid 1, so pid 1 makes the socket;
 * the lock keeps each request with its reply when threads ask at once. The command channel
 * is not used: another thread may be waiting there for pid 1's answer to an exec. */
int lbox_sandbox_tcp_socket(struct lbox_sandbox *sb, struct lbox_error *err)
{
    if (sb->plan->host_network) { /* pid 1's namespace is ours: no round trip */
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return lbox_err_errno(err, errno, "sandbox: making a TCP socket");
        return s;
    }
    struct lbox_msg_head h = {.type = LBOX_MSG_TCP_SOCKET};
    pthread_mutex_lock(&sb->sock_lock);
    int s = lbox_send_msg(sb->sock_fd, &h, NULL, 0, NULL, 0) < 0
                ? lbox_err_errno(err, errno, "sandbox: asking pid 1 for a TCP socket (the "
                                 "sandbox was killed?)")
                : recv_socket_reply(sb->sock_fd, err);
    pthread_mutex_unlock(&sb->sock_lock);
    return s;
}
