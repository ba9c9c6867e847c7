/* Creating and destroying a sandbox: the whole sequence in one place.
 *
 * Runner side (lbox_sandbox_create):
 *   R1. plan QEMU, open the image root
 *   R2. create the cgroup (or decide on the RSS watchdog)
 *   R3. take the seccomp filter (compiled once per process, in a thread started by
 *       lbox_sandbox_prepare while R1 and R2 ran); clone into new user, mount, pid, ipc,
 *       uts and (unless host_network) net namespaces
 *   R4. write the child's uid/gid maps, send GO
 *   R5. move the child into the cgroup while it builds its mounts, send IN_CGROUP
 *   R6. wait for READY (with the sandbox's /tmp and the listening socket); for nat_network,
 *       start slirp4netns on the namespaces READY carried and wait until tap0 is up
 *   R7. with a cgroup, start the thread that keeps /tmp out of the memory limit
 *
 * Sandbox side (child_main, then pid 1 for the sandbox's whole life):
 *   C0. cgroup v1: move ourselves into the cgroup (R5 has nothing left to do then)
 *   C1. drop the runner's ends of the sockets; PR_SET_PDEATHSIG(SIGKILL)
 *   C2. keep only our fds (3 cmd, 4 event, 5 socket requests); stdin/out/err to /dev/null
 *   C3. wait for GO (EOF: the runner died before PDEATHSIG was armed)
 *   C4. open the image root (as fd 6); as root, become the namespace's root (host nobody)
 *       and drop groups, then re-arm PDEATHSIG, which a
 *       credential change clears, and re-check the runner through the socket)
 *   C5. hostname, loopback up
 *   C6. mounts and pivot_root (mounts.c; binfmt_misc for QEMU on our own /proc)
 *   C7. wait for IN_CGROUP, then a new cgroup namespace rooted at our cgroup
 *   C8. listening socket inside our network namespace, READY to the runner with it, our
 *       /tmp and (nat_network) our user and network namespaces: the runner may not open
 *       /proc/<pid 1>/... once C9 makes us undumpable
 *   C9. pid 1 loop (init.c): processes it starts enter their own user namespace as
 *       993:990, drop capabilities, set no_new_privs and load seccomp last before execve.
 * If pid 1 dies the kernel kills every process of its pid namespace; pid 1 dies with the
 * runner (PDEATHSIG, or EOF on the command socket). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "sandbox.h"

/* ---------------- sandbox side ---------------- */

static void __attribute__((noreturn)) child_fail(const char *what)
{
    struct lbox_msg_head h = {.type = LBOX_MSG_READY, .err = errno ? errno : EIO};
    strncpy(h.text, what, sizeof h.text - 1);
    lbox_send_msg(LBOX_FD_CMD, &h, NULL, 0, NULL, 0);
    _exit(1);
}

static bool runner_alive(void)
{
    struct pollfd p = {LBOX_FD_CMD, POLLRDHUP, 0};
    return poll(&p, 1, 0) == 0 || !(p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

static int loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

static int listen_socket(uint16_t port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* A long queue: with the host's network other local processes can connect too, and
     * while the runner turns them away one by one the runtime's own connection must not
     * find the queue full (its SYN would be dropped and retried a second later). */
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, SOMAXCONN) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* C3 (GO) and C7 (IN_CGROUP). EOF means the runner died: before PDEATHSIG was armed for
 * GO (the race that the usual getppid() re-check cannot see from a new pid namespace). */
static int wait_for_runner(uint32_t type)
{
    struct lbox_msg_head h;
    ssize_t n;
    do
        n = recv(LBOX_FD_CMD, &h, sizeof h, 0);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof h && h.type == type ? 0 : -1;
}

/* ours/peers: the child's and the runner's ends of the command, event and socket-request
 * channels, in that order. */
static void __attribute__((noreturn))
child_main(const struct lbox_child_plan *plan, const int ours[3], const int peers[3])
{
    const char *what = NULL;

    /* C0: a single-threaded process that moves itself through v1's "tasks" file skips
     * the global lock that a move from outside takes, whose first taking in a while waits
     * for an RCU grace period (10-15 ms here). We are single-threaded (a clone child) and
     * still have the runner's credentials, which may write there. */
    int cgroup_errno = 0;
    if (plan->cgroup_tasks_fd >= 0) {
        if (write(plan->cgroup_tasks_fd, "0", 1) != 1)
            cgroup_errno = errno ? errno : EIO;
        close(plan->cgroup_tasks_fd);
    }

    /* C1 */
    for (int i = 0; i < 3; i++)
        close(peers[i]);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

    /* C2: park ours high, then place them at 3, 4 and 5 and close the rest (the processes
     * pid 1 starts close everything but their stdio anyway, init.c). */
    int hi_cmd = fcntl(ours[0], F_DUPFD, 64), hi_ev = fcntl(ours[1], F_DUPFD, 64);
    int hi_sock = fcntl(ours[2], F_DUPFD, 64);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0)
        null = fcntl(null, F_DUPFD, 64);
    if (hi_cmd < 0 || hi_ev < 0 || hi_sock < 0 || null < 0 || dup2(hi_cmd, LBOX_FD_CMD) < 0 ||
        dup2(hi_ev, LBOX_FD_EVENT) < 0 || dup2(hi_sock, LBOX_FD_SOCKET) < 0 ||
        dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(1);
    syscall(SYS_close_range, LBOX_FD_SOCKET + 1, ~0U, 0);
    if (cgroup_errno) {
        errno = cgroup_errno;
        child_fail("moving into the sandbox's memory cgroup");
    }

    /* C3 */
    if (wait_for_runner(LBOX_MSG_GO) < 0)
        _exit(1);

    /* C4: open the image root in our mount namespace (a bind needs a source mount of the
     * current namespace), still with the runner's credentials so that a root-owned path
     * (root's home) can be traversed before we become nobody on the host. */
    int rootfs = open(plan->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfs < 0 || dup2(rootfs, LBOX_FD_ROOTFS) < 0)
        child_fail("opening the image root");
    if (rootfs != LBOX_FD_ROOTFS)
        close(rootfs);
    for (unsigned i = 0; i < plan->nbinds; i++) {
        int b = open(plan->bind_source[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (b < 0 || dup2(b, LBOX_FD_BIND0 + (int)i) < 0)
            child_fail("opening a read-write bind source");
        if (b != LBOX_FD_BIND0 + (int)i)
            close(b);
    }
    if (plan->as_root) {
        /* Raw system calls: glibc's wrappers apply a credential change to every thread it
         * knows of, and it still knows the runner's threads, which this clone does not have
         * (one caught exiting at the clone made setgroups() wait forever). */
        if (syscall(SYS_setgroups, 0, NULL) < 0)
            child_fail("dropping supplementary groups");
        if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
            child_fail("switching to the namespace's root (host nobody)");
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (!runner_alive())
            _exit(1);
    }

    /* C5 */
    if (plan->hostname[0] && sethostname(plan->hostname, strlen(plan->hostname)) < 0)
        child_fail("setting the hostname");
    if (!plan->host_network && loopback_up() < 0)
        child_fail("bringing up the loopback interface");

    /* C6 */
    if (lbox_mounts_build(plan, &what) < 0)
        child_fail(what);
    close(LBOX_FD_ROOTFS);
    for (unsigned i = 0; i < plan->nbinds; i++)
        close(LBOX_FD_BIND0 + (int)i);

    /* C7: on cgroup v2 the runner's move ran alongside our mounts (the first move in a
     * while waits for an RCU grace period, ~10 ms); on v1 C0 did it. Nothing of the
     * function runs before it. */
    if (wait_for_runner(LBOX_MSG_IN_CGROUP) < 0)
        _exit(1);
    if (unshare(CLONE_NEWCGROUP) < 0)
        child_fail("creating the cgroup namespace");

    /* C8 */
    int lfd = -1;
    if (plan->listen_port && (lfd = listen_socket(plan->listen_port)) < 0 &&
        plan->host_network && errno == EADDRINUSE)
        lfd = listen_socket(0); /* the host's port is taken (another environment): any port */
    if (plan->listen_port && lfd < 0)
        child_fail("listening on 127.0.0.1 inside the sandbox");
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmp < 0)
        child_fail("opening /tmp for the runner");
    /* READY's fds, in this order: /tmp, the listening socket, our user and network
     * namespaces (slirp4netns joins them; not being dumpable, we cannot be opened). */
    int fds[4], nfds = 0;
    fds[nfds++] = tmp;
    if (lfd >= 0)
        fds[nfds++] = lfd;
    if (plan->nat_network) {
        int user = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
        int net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (user < 0 || net < 0)
            child_fail("opening the namespaces for slirp4netns");
        fds[nfds++] = user;
        fds[nfds++] = net;
    }
    struct lbox_msg_head ready = {.type = LBOX_MSG_READY};
    if (lbox_send_msg(LBOX_FD_CMD, &ready, NULL, 0, fds, (unsigned)nfds) < 0)
        _exit(1);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);

    /* C9 */
    lbox_init_main(plan);
}

/* ---------------- runner side ---------------- */

static int open_rootfs(const char *rootfs, struct lbox_error *err)
{
    int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "sandbox: image root %s", rootfs);
    static const char *const need[] = {"proc", "dev", "tmp"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        struct stat st;
        if (fstatat(fd, need[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
            close(fd);
            return lbox_err(err, LBOX_E_INVAL,
                            "sandbox: image root %s has no /%s directory to mount on (the "
                            "builder creates /proc, /dev and /tmp; rebuild the image)",
                            rootfs, need[i]);
        }
    }
    return fd;
}

static int clone_error(int e, struct lbox_error *err)
{
    const char *hint = "";
    if (e == EPERM || e == EACCES)
        hint = " (unprivileged user namespaces are disabled: check sysctl "
               "kernel.unprivileged_userns_clone / user.max_user_namespaces, or an AppArmor "
               "userns restriction)";
    else if (e == ENOSPC || e == EUSERS)
        hint = " (namespace limit reached: sysctl user.max_user_namespaces and friends)";
    else if (e == EINVAL)
        hint = " (this kernel lacks user, pid or network namespaces)";
    return lbox_err(err, LBOX_E_SYS, "sandbox: creating namespaces: %s%s", strerror(e), hint);
}

/* What READY hands over: the sandbox's /tmp, the listening socket when one was asked
 * for, the user and network namespaces for a nat_network sandbox; -1 for what is absent. */
struct ready_fds {
    int tmp, listen, userns, netns;
};

static void close_ready_fds(struct ready_fds *r)
{
    int *all[] = {&r->tmp, &r->listen, &r->userns, &r->netns};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (*all[i] >= 0) {
            close(*all[i]);
            *all[i] = -1;
        }
}

static int wait_ready(struct lbox_sandbox *sb, struct ready_fds *r, struct lbox_error *err)
{
    struct lbox_msg_head h;
    struct iovec iov = {&h, sizeof h};
    union {
        char buf[CMSG_SPACE(4 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sb->cmd_fd, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int fds[4] = {-1, -1, -1, -1};
    size_t nfds = 0;
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            nfds = k < 4 ? k : 4;
            memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
        }
    size_t at = 0;
    *r = (struct ready_fds){-1, -1, -1, -1};
    r->tmp = at < nfds ? fds[at++] : -1;
    if (sb->plan->listen_port)
        r->listen = at < nfds ? fds[at++] : -1;
    if (sb->plan->nat_network) {
        r->userns = at < nfds ? fds[at++] : -1;
        r->netns = at < nfds ? fds[at++] : -1;
    }
    while (at < nfds)
        close(fds[at++]);
    if (n != (ssize_t)sizeof h || h.type != LBOX_MSG_READY) {
        close_ready_fds(r);
        return lbox_err(err, LBOX_E_SYS,
                        "sandbox: the set-up process ended without reporting (killed, or "
                        "out of memory?)");
    }
    if (h.err) {
        close_ready_fds(r);
        h.text[sizeof h.text - 1] = 0;
        return lbox_err(err, LBOX_E_SYS, "sandbox set-up: %s: %s", h.text, strerror(h.err));
    }
    return 0;
}

/* Read-write binds: absolute targets without "..", existing directories of the image (not
 * symlinks: the root is read-only, so nothing can be created to mount on). */
static int plan_binds(struct lbox_child_plan *plan, const struct lbox_sandbox_config *cfg,
                      struct lbox_error *err)
{
    if (cfg->nbinds > LBOX_SANDBOX_MAX_BINDS)
        return lbox_err(err, LBOX_E_INVAL, "sandbox: %zu binds given, at most %d", cfg->nbinds,
                        LBOX_SANDBOX_MAX_BINDS);
    for (size_t i = 0; i < cfg->nbinds; i++) {
        const struct lbox_sandbox_bind *b = &cfg->binds[i];
        if (!b->source || !b->target || b->target[0] != '/' || strstr(b->target, "..") ||
            strlen(b->target) >= PATH_MAX)
            return lbox_err(err, LBOX_E_INVAL,
                            "sandbox: bind target \"%s\" must be an absolute path without \"..\"",
                            b->target ? b->target : "(none)");
        const char *rel = b->target;
        while (*rel == '/')
            rel++;
        char *inside = lbox_strdupf("%s/%s", plan->rootfs, rel);
        struct stat st;
        int r = lstat(inside, &st);
        free(inside);
        if (r < 0 || !S_ISDIR(st.st_mode))
            return lbox_err(err, LBOX_E_INVAL,
                            "sandbox: bind target %s is not a directory of the image %s",
                            b->target, plan->rootfs);
        char *src = realpath(b->source, NULL);
        if (!src || stat(src, &st) < 0 || !S_ISDIR(st.st_mode) || strlen(src) >= PATH_MAX) {
            int e = src ? ENOTDIR : errno;
            free(src);
            return lbox_err_errno(err, e, "sandbox: bind source %s", b->source);
        }
        strcpy(plan->bind_source[i], src);
        free(src);
        snprintf(plan->bind_target[i], sizeof plan->bind_target[i], "%s", rel[0] ? rel : ".");
    }
    plan->nbinds = (unsigned)cfg->nbinds;
    return 0;
}

int lbox_sandbox_create(const struct lbox_sandbox_config *cfg, struct lbox_sandbox **out,
                        int *listen_fd, struct lbox_error *err)
{
    *out = NULL;
    if (listen_fd)
        *listen_fd = -1;
    if (!cfg->rootfs)
        return lbox_err(err, LBOX_E_INVAL, "sandbox: no image root given");
    if (cfg->tmp_size_mb < 1 || cfg->tmp_size_mb > 10240)
        return lbox_err(err, LBOX_E_INVAL, "sandbox: /tmp size %u MB is outside 1..10240",
                        cfg->tmp_size_mb);
    if (cfg->hostname && strlen(cfg->hostname) > 64)
        return lbox_err(err, LBOX_E_INVAL, "sandbox: hostname longer than 64 characters");

    struct lbox_sandbox *sb = lbox_xcalloc(1, sizeof *sb);
    sb->init_pid = -1;
    sb->cmd_fd = sb->event_fd = sb->sock_fd = sb->own_ids.lock = -1;
    pthread_mutex_init(&sb->sock_lock, NULL);
    sb->plan = lbox_xcalloc(1, sizeof *sb->plan);
    sb->cg = lbox_xcalloc(1, sizeof *sb->cg);
    sb->cg->peak_fd = -1;
    struct lbox_child_plan *plan = sb->plan;
    int rootfs = -1, cmd[2] = {-1, -1}, ev[2] = {-1, -1}, sk[2] = {-1, -1};

    /* R1 */
    plan->as_root = geteuid() == 0;
    /* Host ids of the sandbox's own as root, so the kernel's per-user budgets are its own
     * (host_ids.c); a build's, whose binds were made writable for them, are the caller's. */
    if (cfg->nbinds && !cfg->ids) {
        lbox_err(err, LBOX_E_INVAL, "sandbox: binds need the ids the sandbox writes them as");
        goto fail;
    }
    if (!cfg->ids)
        lbox_sandbox_ids_reserve(&sb->own_ids);
    sb->host_uid = cfg->ids ? cfg->ids->uid : sb->own_ids.uid;
    sb->host_gid = cfg->ids ? cfg->ids->gid : sb->own_ids.gid;
    plan->host_network = cfg->host_network;
    plan->nat_network = cfg->nat_network && !cfg->host_network;
    plan->listen_port = cfg->listen_port;
    plan->tmp_size_mb = cfg->tmp_size_mb;
    snprintf(plan->hostname, sizeof plan->hostname, "%s", cfg->hostname ? cfg->hostname : "");
    /* uid/gid 0 of pid 1's namespace: 993:990 for the processes it runs. */
    snprintf(plan->tmp_opts, sizeof plan->tmp_opts, "size=%um,mode=1777,uid=0,gid=0",
             cfg->tmp_size_mb);
    if (cfg->qemu_path && lbox_binfmt_plan(plan, cfg->arch, cfg->qemu_path, err) < 0)
        goto fail;
    if ((rootfs = open_rootfs(cfg->rootfs, err)) < 0)
        goto fail;
    close(rootfs);
    rootfs = -1;
    char *real = realpath(cfg->rootfs, NULL);
    if (!real || strlen(real) >= sizeof plan->rootfs) {
        free(real);
        lbox_err(err, LBOX_E_INVAL, "sandbox: image root path %s is too long", cfg->rootfs);
        goto fail;
    }
    strcpy(plan->rootfs, real);
    free(real);
    if (plan_binds(plan, cfg, err) < 0)
        goto fail;
    /* The socket-request channel exists with host_network too (unused there: the runner
     * makes that socket itself), so pid 1's fds are the same in every sandbox. */
    bool paired = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cmd) == 0 &&
                  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ev) == 0 &&
                  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk) == 0;
    int pair_errno = errno;
    /* Ours now, whatever was made: destroy closes them (the child's ends: fail below). */
    sb->cmd_fd = cmd[0];
    sb->event_fd = ev[0];
    sb->sock_fd = sk[0];
    if (!paired) {
        lbox_err_errno(err, pair_errno, "sandbox: socketpair");
        goto fail;
    }
    int one = 1;
    setsockopt(cmd[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);

    /* R2 */
    lbox_cgroup_create(sb->cg, cfg->memory_mb, cfg->tmp_size_mb);
    if (sb->cg->kind != LBOX_CG_NONE)
        snprintf(sb->mode, sizeof sb->mode, "%s", sb->cg->mode);
    else if (cfg->memory_mb) {
        plan->watchdog_mb = cfg->memory_mb;
        snprintf(sb->mode, sizeof sb->mode,
                 "not enforced by the kernel: %s; instead the sandbox's pid 1 kills its "
                 "processes when their total RSS exceeds %u MB (checked every 50 ms, so a "
                 "fast allocation can overshoot briefly), and the memory no RSS shows that "
                 "can be refused is (memfd_create, shmget and msgget fail with EPERM; "
                 "/dev/shm holds 64 MB); the kernel's memory for the function (socket and "
                 "pipe buffers, page tables) is not limited; Max Memory Used is the peak RSS",
                 sb->cg->mode, cfg->memory_mb);
    } else
        snprintf(sb->mode, sizeof sb->mode, "no limit requested; %s", sb->cg->mode);

    /* R3: the child gets the filter with its copy of our memory. */
    if (lbox_seccomp_program(plan->watchdog_mb ? LBOX_FILTER_RSS_WATCH : LBOX_FILTER_DEFAULT,
                             &plan->seccomp, err) < 0)
        goto fail;
    plan->cgroup_tasks_fd = lbox_cgroup_open_tasks(sb->cg);
    long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                 SIGCHLD;
    if (!cfg->host_network)
        flags |= CLONE_NEWNET;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (pid == 0) {
        const int ours[3] = {cmd[1], ev[1], sk[1]}, peers[3] = {cmd[0], ev[0], sk[0]};
        child_main(plan, ours, peers);
    }
    int clone_errno = errno;
    if (plan->cgroup_tasks_fd >= 0)
        close(plan->cgroup_tasks_fd);
    if (pid < 0) {
        clone_error(clone_errno, err);
        goto fail;
    }
    sb->init_pid = pid;
    close(cmd[1]);
    close(ev[1]);
    close(sk[1]);
    cmd[1] = ev[1] = sk[1] = -1;

    /* R4 */
    if (lbox_userns_write_maps(pid, plan->as_root, sb->host_uid, sb->host_gid, err) < 0)
        goto fail;
    struct lbox_msg_head go = {.type = LBOX_MSG_GO};
    if (lbox_send_msg(sb->cmd_fd, &go, NULL, 0, NULL, 0) < 0) {
        lbox_err_errno(err, errno, "sandbox: starting the set-up");
        goto fail;
    }

    /* R5 (the child moved itself on v1, C0) */
    if (plan->cgroup_tasks_fd < 0 && lbox_cgroup_attach(sb->cg, pid, err) < 0)
        goto fail;

    /* pid 1 keeps the OOM score it inherits: the processes it starts raise theirs (to
     * 500), so the OOM killer picks them first. Exempting pid 1 (-1000) as root would also
     * have let every process it starts claim -1000 back: a write by a holder of
     * CAP_SYS_RESOURCE sets the floor a process and its children may lower their score to. */

    struct lbox_msg_head in_cgroup = {.type = LBOX_MSG_IN_CGROUP};
    if (lbox_send_msg(sb->cmd_fd, &in_cgroup, NULL, 0, NULL, 0) < 0) {
        lbox_err_errno(err, errno, "sandbox: continuing the set-up");
        goto fail;
    }

    /* R6 */
    struct ready_fds got;
    if (wait_ready(sb, &got, err) < 0)
        goto fail;
    /* R6b: the internet without this host, before anything runs inside (nat_network.c). */
    if (plan->nat_network && lbox_nat_start(got.userns, got.netns, &sb->nat, err) < 0) {
        close_ready_fds(&got);
        goto fail;
    }
    int tmp_fd = got.tmp;
    got.tmp = -1;
    if (listen_fd) {
        *listen_fd = got.listen;
        got.listen = -1;
    }
    close_ready_fds(&got); /* slirp4netns has its own copies of the namespaces */

    /* R7: the kernel charges /tmp's pages to the sandbox's cgroup; a runner thread holds
     * the memory outside /tmp to the limit (see memwatch.c). It takes tmp_fd. */
    if (sb->cg->kind != LBOX_CG_NONE && sb->cg->tmp_outside) {
        if (lbox_memwatch_start(sb->cg->dir, sb->cg->kind == LBOX_CG_V2, sb->cg->tmp_outside,
                                pid, tmp_fd, &sb->memwatch, err) < 0)
            goto fail;
    } else if (tmp_fd >= 0) {
        close(tmp_fd);
    }
    *out = sb;
    return 0;

fail:
    if (rootfs >= 0)
        close(rootfs);
    if (cmd[1] >= 0)
        close(cmd[1]);
    if (ev[1] >= 0)
        close(ev[1]);
    if (sk[1] >= 0)
        close(sk[1]);
    lbox_sandbox_destroy(sb);
    return -1;
}

void lbox_sandbox_destroy(struct lbox_sandbox *sb)
{
    if (!sb)
        return;
    if (sb->cmd_fd >= 0)
        close(sb->cmd_fd);
    if (sb->event_fd >= 0)
        close(sb->event_fd);
    if (sb->sock_fd >= 0)
        close(sb->sock_fd);
    lbox_memwatch_stop(sb->memwatch);
    if (sb->init_pid > 0) {
        /* pid 1's death takes the namespace down; its wait returns once all are reaped. */
        kill(sb->init_pid, SIGKILL);
        while (waitpid(sb->init_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    lbox_nat_stop(sb->nat);
    lbox_cgroup_destroy(sb->cg);
    lbox_sandbox_ids_release(&sb->own_ids); /* its processes are gone: the ids are free */
    pthread_mutex_destroy(&sb->sock_lock);
    free(sb->cg);
    free(sb->plan);
    free(sb);
}

void lbox_sandbox_abandon(struct lbox_sandbox *sb)
{
    if (!sb)
        return;
    if (sb->cmd_fd >= 0)
        close(sb->cmd_fd);
    if (sb->event_fd >= 0)
        close(sb->event_fd);
    if (sb->sock_fd >= 0)
        close(sb->sock_fd);
    /* No wait: pid 1's exit tears the namespaces down, and putting the mount namespace
     * waits for an RCU grace period (10-15 ms here) that the caller has no use for. The
     * kernel's init reaps pid 1 once the runner is gone. */
    lbox_memwatch_stop(sb->memwatch);
    if (sb->init_pid > 0)
        kill(sb->init_pid, SIGKILL);
    lbox_nat_stop(sb->nat);
    lbox_cgroup_destroy_detached(sb->cg);
    lbox_sandbox_ids_release(&sb->own_ids); /* (its processes die within ms of pid 1) */
    pthread_mutex_destroy(&sb->sock_lock);
    free(sb->cg);
    free(sb->plan);
    free(sb);
}

const char *lbox_sandbox_memory_mode(struct lbox_sandbox *sb)
{
    return sb->mode;
}

pid_t lbox_sandbox_init_pid(struct lbox_sandbox *sb)
{
    return sb->init_pid;
}
