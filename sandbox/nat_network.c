/* User-mode NAT for a sandbox that needs the internet but not this host: slirp4netns.
 *
 * The build's npm install must reach a registry, and it runs the function's install
 * scripts, which are hostile code. Sharing the host's network namespace would hand them
 * every service bound to this host's 127.0.0.1 (databases, admin ports, a cloud metadata
 * relay) and its /proc/net. Instead the sandbox keeps a network namespace of its own, and
 * slirp4netns (rootless podman's default network, a Debian package) gives it a tap device
 * whose traffic leaves through ordinary sockets of the sandbox's own user: it sees
 * 10.0.2.100, a gateway at 10.0.2.2, a DNS forwarder at 10.0.2.3, and with
 * --disable-host-loopback nothing of this host's loopback. That is the network a
 * container of Docker's default bridge has (what `sam build --use-container` gives).
 *
 * slirp4netns joins the sandbox's namespaces by fds pid 1 handed over (pid 1 is not
 * dumpable, so its /proc/<pid>/ns cannot be opened from outside by a normal user), and
 * exits when the write end of its exit pipe closes: when lbox stops it, or when lbox dies. */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define SLIRP_DEFAULT_PATH "/usr/bin/slirp4netns"
/* slirp4netns configures the tap device in a few milliseconds; a loaded machine gets room. */
#define SLIRP_READY_TIMEOUT_MS 10000
/* Open files of slirp4netns: its own few plus one socket per connection of the sandbox. */
#define SLIRP_NOFILE 4096

/* Fixed fds in the slirp4netns process. */
enum { FD_USERNS = 3, FD_NETNS, FD_READY, FD_EXIT, FD_FIRST_FREE };

struct lbox_nat {
    pid_t pid;
    int exit_fd; /* our end of its exit pipe: closing it stops slirp4netns */
};

const char *lbox_nat_program(void)
{
    const char *p = getenv("LBOX_SLIRP4NETNS");
    return p && *p ? p : SLIRP_DEFAULT_PATH;
}

/* In the forked child: the step that failed and errno, to the log the error message reads. */
static void __attribute__((noreturn)) slirp_fail(const char *step)
{
    const char *why = strerrordesc_np(errno); /* no locale, no allocation */
    const char *parts[] = {"lbox: ", step, ": ", why ? why : "error", "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
    _exit(126);
}

/* In the forked child: only async-signal-safe calls (system calls) until execve.
 *
 * slirp4netns parses the sandbox's packets, so it runs with what the sandbox has and no
 * more: it joins the sandbox's user namespace as that namespace's root, which is the
 * caller for a normal user and the sandbox's own host user for root (host_ids.c; its
 * sockets on the host are that user's, as the sandboxed processes' own would be with the
 * host's network, so rules that match the sending user still hold), and --enable-sandbox
 * then leaves it an empty root and no capability beyond binding low ports. It opens
 * /dev/net/tun by that identity: udev makes the node 0666 on most systems, and for root,
 * where it may be 0600, a private 0666 node in a mount namespace of the child's own stands
 * in for it. */
static void __attribute__((noreturn))
exec_slirp(const char *prog, bool as_root, int userns, int netns, int ready, int exit_r,
           int log)
{
    /* Move the sources above the targets first, so no dup2 overwrites a source. */
    int src[] = {userns, netns, ready, exit_r, log};
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++)
        if ((src[i] = fcntl(src[i], F_DUPFD, 64)) < 0)
            _exit(127);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(src[4], 2) < 0 ||
        dup2(src[0], FD_USERNS) < 0 || dup2(src[1], FD_NETNS) < 0 ||
        dup2(src[2], FD_READY) < 0 || dup2(src[3], FD_EXIT) < 0)
        _exit(127);
    syscall(SYS_close_range, FD_FIRST_FREE, ~0U, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Each connection the sandbox opens is a socket of slirp4netns: bound them. */
    struct rlimit nofile = {SLIRP_NOFILE, SLIRP_NOFILE};
    if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
        slirp_fail("limiting its open files");

    if (as_root) {
        umask(0);
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("lbox-tun", "/dev/net", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=4k,mode=755") < 0 ||
            mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) < 0)
            slirp_fail("making a /dev/net/tun the sandbox's root may open");
        if (syscall(SYS_setgroups, 0, NULL) < 0)
            slirp_fail("dropping supplementary groups");
    }
    if (setns(FD_USERNS, CLONE_NEWUSER) < 0 || syscall(SYS_setresgid, 0, 0, 0) < 0 ||
        syscall(SYS_setresuid, 0, 0, 0) < 0)
        slirp_fail("joining the sandbox's user namespace");
    close(FD_USERNS);

    char *const argv[] = {
        (char *)prog,
        "--configure",
        /* Large frames: npm's downloads go through slirp's copy loop far fewer times. */
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-seccomp",
        "--enable-sandbox",
        "--netns-type=path",
        "--ready-fd=5",
        "--exit-fd=6",
        "/proc/self/fd/4",
        "tap0",
        NULL,
    };
    char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    execve(prog, argv, envp);
    slirp_fail("starting it");
}

/* What slirp4netns said before it failed, for the error message: its first line that is
 * not a warning (the cause; "child failed" follows it). */
static void read_log(int log, char *buf, size_t len)
{
    char all[4096];
    buf[0] = '\0';
    ssize_t n = pread(log, all, sizeof all - 1, 0);
    if (n <= 0)
        return;
    all[n] = '\0';
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "WARNING", 7) != 0) {
            snprintf(buf, len, "%s", line);
            return;
        }
}

void lbox_nat_stop(struct lbox_nat *nat)
{
    if (!nat)
        return;
    close(nat->exit_fd);
    /* It exits on the closed pipe; SIGKILL covers one stuck in the kernel. */
    struct timespec step = {0, 2 * 1000 * 1000};
    for (int i = 0; i < 500; i++) {
        pid_t r = waitpid(nat->pid, NULL, WNOHANG);
        if (r == nat->pid || (r < 0 && errno != EINTR))
            goto done;
        nanosleep(&step, NULL);
    }
    kill(nat->pid, SIGKILL);
    while (waitpid(nat->pid, NULL, 0) < 0 && errno == EINTR)
        ;
done:
    free(nat);
}

int lbox_nat_start(int userns_fd, int netns_fd, struct lbox_nat **out, struct lbox_error *err)
{
    *out = NULL;
    const char *prog = lbox_nat_program();
    if (access(prog, X_OK) < 0)
        return lbox_err_errno(err, errno,
                              "sandbox: a network of its own with the internet needs "
                              "slirp4netns (user-mode NAT) at %s: install it (apt-get install "
                              "slirp4netns) or name it with LBOX_SLIRP4NETNS", prog);
    _cleanup_close_ int log = memfd_create("slirp4netns-log", MFD_CLOEXEC);
    int ready[2] = {-1, -1}, exit_pipe[2] = {-1, -1};
    if (log < 0 || pipe2(ready, O_CLOEXEC) < 0 || pipe2(exit_pipe, O_CLOEXEC) < 0) {
        lbox_err_errno(err, errno, "sandbox: preparing slirp4netns");
        goto fail;
    }
    pid_t pid = fork();
    if (pid < 0) {
        lbox_err_errno(err, errno, "sandbox: starting slirp4netns");
        goto fail;
    }
    if (pid == 0)
        exec_slirp(prog, geteuid() == 0, userns_fd, netns_fd, ready[1], exit_pipe[0], log);
    close(ready[1]);
    close(exit_pipe[0]);
    ready[1] = exit_pipe[0] = -1;

    struct lbox_nat *nat = lbox_xcalloc(1, sizeof *nat);
    nat->pid = pid;
    nat->exit_fd = exit_pipe[1];
    exit_pipe[1] = -1;

    /* It writes "1" to the ready fd once tap0 is up with its address and routes. */
    struct pollfd p = {ready[0], POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, SLIRP_READY_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    char c = 0;
    if (r == 1 && read(ready[0], &c, 1) == 1 && c == '1') {
        close(ready[0]);
        *out = nat;
        return 0;
    }
    close(ready[0]);
    lbox_nat_stop(nat);
    char said[512];
    read_log(log, said, sizeof said);
    return lbox_err(err, LBOX_E_SYS,
                    "sandbox: slirp4netns (%s) did not bring up the network%s%s%s", prog,
                    r == 0 ? " within 10 s" : "", said[0] ? ": " : "", said);

fail:
    for (int i = 0; i < 2; i++) {
        if (ready[i] >= 0)
            close(ready[i]);
        if (exit_pipe[i] >= 0)
            close(exit_pipe[i]);
    }
    return -1;
}
