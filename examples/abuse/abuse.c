/* Things a hostile function might try, one per argument, each printing
 * {"case":..., "result": "ok" | "<errno name>", ...}. Built statically by the abuse test and
 * shipped next to index.js, since Node cannot make these system calls itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/bpf.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char *name, long rc)
{
    printf("{\"case\":\"%s\",\"result\":\"%s\"}\n", name, rc < 0 ? strerrorname_np(errno) : "ok");
    return 0;
}

static int fork_bomb(void)
{
    int n = 0, err = 0;
    for (;;) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            err = errno;
            break;
        }
        if (++n > 5000)
            break;
    }
    printf("{\"case\":\"forkbomb\",\"forked\":%d,\"result\":\"%s\"}\n", n,
           err ? strerrorname_np(err) : "ok");
    fflush(stdout);
    signal(SIGTERM, SIG_IGN); /* the children (default action) die, we stay */
    kill(0, SIGTERM);
    while (wait(NULL) > 0)
        ;
    return 0;
}

/* Per-user kernel budgets, which the kernel charges to the user who ran lbox: takes one
 * more of a kind until the kernel says no, then holds them for hold_ms, having said so on
 * stderr, so that the caller can look at the host meanwhile. */
static int take_inotify(int i)
{
    (void)i;
    return inotify_init1(IN_CLOEXEC);
}

static int take_mqueue(int i)
{
    char name[64];
    snprintf(name, sizeof name, "/lbox-abuse-%d-%d", (int)getpid(), i);
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 8192};
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (q != (mqd_t)-1)
        mq_unlink(name); /* charged while open; nothing left behind */
    return q == (mqd_t)-1 ? -1 : 0;
}

static int take_sigqueue(int i)
{
    siginfo_t si = {.si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid()};
    si.si_value.sival_int = i;
    return (int)syscall(SYS_rt_sigqueueinfo, getpid(), SIGRTMIN, &si);
}

static int exhaust(const char *name, int (*take)(int), int hold_ms)
{
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN); /* queued signals stay queued */
    sigprocmask(SIG_BLOCK, &rt, NULL);
    int n = 0, err = 0;
    while (n < 200000) {
        if (take(n) < 0) {
            err = errno;
            break;
        }
        n++;
    }
    fprintf(stderr, "abuse: holding %d of %s\n", n, name);
    fflush(stderr);
    usleep((useconds_t)hold_ms * 1000);
    printf("{\"case\":\"%s\",\"taken\":%d,\"result\":\"%s\"}\n", name, n,
           err ? strerrorname_np(err) : "ok");
    return 0;
}

static int watch_fd, watches, last_wd, watch_err;

static int add_watch(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    int wd = inotify_add_watch(watch_fd, path, IN_MODIFY);
    if (wd > last_wd) { /* a new watch: a hard link to a watched file gets the same wd */
        last_wd = wd;
        watches++;
    } else if (wd < 0 && errno == ENOSPC)
        watch_err = errno;
    return watch_err != 0; /* stops the walk */
}

/* Watches on every file of the image, one instance, until the kernel says no. */
static int inotify_watches(void)
{
    watch_fd = inotify_init1(IN_CLOEXEC);
    if (watch_fd < 0)
        return report("inotify-watches", -1);
    nftw("/", add_watch, 64, FTW_PHYS | FTW_MOUNT);
    printf("{\"case\":\"inotify-watches\",\"watches\":%d,\"result\":\"%s\"}\n", watches,
           watch_err ? strerrorname_np(watch_err) : "ok");
    return 0;
}

/* Opens pseudo-terminals until refused: the pool is shared by every devpts instance. */
static int take_ptys(void)
{
    int n = 0;
    while (n < 900 && open("/dev/ptmx", O_RDWR | O_NOCTTY) >= 0)
        n++;
    printf("{\"case\":\"ptys\",\"result\":\"%s\",\"taken\":%d}\n",
           n < 900 ? strerrorname_np(errno) : "ok", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *c = argv[1];
    /* Our own process group, so the fork bomb's clean-up spares the runtime. */
    setpgid(0, 0);
    if (!strcmp(c, "mount"))
        return report(c, mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(c, "unshare"))
        return report(c, unshare(CLONE_NEWUSER | CLONE_NEWNS));
    if (!strcmp(c, "clone-newnet"))
        return report(c, syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
    if (!strcmp(c, "setns")) {
        int fd = open("/proc/1/ns/mnt", O_RDONLY);
        return report(c, fd < 0 ? fd : setns(fd, 0));
    }
    if (!strcmp(c, "ptrace"))
        return report(c, ptrace(PTRACE_ATTACH, (pid_t)atoi(argc > 2 ? argv[2] : "1"), 0, 0));
    if (!strcmp(c, "kexec"))
        return report(c, syscall(SYS_kexec_load, 0, 0, 0, 0));
    if (!strcmp(c, "bpf")) {
        union bpf_attr a;
        memset(&a, 0, sizeof a);
        return report(c, syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a));
    }
    if (!strcmp(c, "keyctl"))
        return report(c, syscall(SYS_add_key, "user", "lbox", "secret", 6, -2 /* process */));
    if (!strcmp(c, "mknod"))
        return report(c, mknod("/tmp/null2", S_IFCHR | 0666, makedev(1, 3)));
    if (!strcmp(c, "io_uring"))
        return report(c, syscall(SYS_io_uring_setup, 1, calloc(1, 256)));
    if (!strcmp(c, "forkbomb"))
        return fork_bomb();
    if (!strcmp(c, "aio")) { /* a context out of the host-wide fs.aio-max-nr */
        unsigned long ctx = 0;
        return report(c, syscall(SYS_io_setup, 4096, &ctx));
    }
    if (!strcmp(c, "oom-score")) { /* exempt from the OOM killer, so the host goes first */
        int fd = open("/proc/self/oom_score_adj", O_WRONLY);
        return report(c, fd < 0 ? fd : write(fd, "-1000", 5));
    }
    if (!strcmp(c, "core-limit")) { /* core dumps back on */
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        return report(c, setrlimit(RLIMIT_CORE, &rl));
    }
    if (!strcmp(c, "ptys"))
        return take_ptys();
    int hold_ms = argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(c, "inotify"))
        return exhaust(c, take_inotify, hold_ms);
    if (!strcmp(c, "mqueue"))
        return exhaust(c, take_mqueue, hold_ms);
    if (!strcmp(c, "sigqueue"))
        return exhaust(c, take_sigqueue, hold_ms);
    if (!strcmp(c, "inotify-watches"))
        return inotify_watches();
    return 2;
}
