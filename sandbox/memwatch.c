/* Keeps /tmp out of the function's memory, on cgroup v1 and v2 alike.
 *
 * /tmp is a tmpfs, and the kernel charges its pages (shmem) to the cgroup of whoever wrote
 * them: with a plain limit, a 128 MB function writing 300 MB to /tmp would be killed. On
 * Lambda /tmp is disk, not memory. So cgroup.c sets the cgroup's hard limit to memory plus
 * the /tmp size (the kernel's backstop), and this thread of the runner enforces the memory
 * part: when the cgroup's usage, less what /tmp holds and less the file cache the kernel
 * would reclaim first, passes the limit, it kills the largest process, as the kernel's OOM
 * killer would. Only /tmp is exempt: the rest of shmem (/dev/shm, memfd, shared anonymous
 * mappings) is the function's memory, so what /tmp holds is read from its filesystem
 * (statfs) and at most that much of the cgroup's shmem is left out.
 *
 * No polling: the kernel tells us when usage crosses a threshold at limit + what is exempt,
 * which is moved (re-armed) whenever it fires, since /tmp and the file cache grow and
 * shrink.
 *  - v1: an eventfd registered through cgroup.event_control on memory.usage_in_bytes;
 *    closing the eventfd unregisters the old threshold. The kernel checks thresholds every
 *    few hundred KB of charges, so the kill comes within that much of the limit.
 *  - v2 has no such event, but it has memory.high: past it the kernel counts a "high"
 *    event in memory.events, which wakes poll() (POLLPRI), and reclaims. With swap off for
 *    the cgroup it can only reclaim file cache, which the count leaves out anyway, and it
 *    delays the charging task only once usage is more than ~1% over (then in proportion to
 *    the square of the excess), so re-arming at once costs the function nothing.
 *
 * The thread never calls malloc: the runner may clone another sandbox while it runs. */
#include "internal.h"

#include "../common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

struct lbox_memwatch {
    char dir[PATH_MAX];
    uint64_t limit;   /* bytes the function may use outside /tmp */
    pid_t spare;      /* the sandbox's pid 1: never the one killed */
    bool v2;
    int usage_fd;     /* v1 memory.usage_in_bytes, v2 memory.current */
    int control_fd;   /* where the threshold is set: v1 cgroup.event_control, v2 memory.high */
    int armed_fd;     /* what poll() waits on: v1 the current threshold's eventfd, v2
                       * memory.events (POLLPRI) */
    int stop_fd;      /* eventfd written by lbox_memwatch_stop */
    int tmp_fd;       /* the sandbox's /tmp; -1: unknown, all shmem counts as /tmp */
    pthread_t thread;
    bool running;
};

/* The number after "<key> " at a line start of a small file read whole; 0 if absent. */
static uint64_t stat_value(const char *path, const char *key)
{
    char buf[8192];
    if (lbox_read_text(path, buf, sizeof buf) < 0)
        return 0;
    size_t klen = strlen(key);
    for (char *line = buf; *line;) {
        if (!strncmp(line, key, klen) && line[klen] == ' ')
            return strtoull(line + klen + 1, NULL, 10);
        char *next = strchr(line, '\n');
        if (!next)
            break;
        line = next + 1;
    }
    return 0;
}

static uint64_t usage_now(struct lbox_memwatch *w)
{
    char buf[32];
    ssize_t n = pread(w->usage_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strtoull(buf, NULL, 10);
}

/* Bytes the files in /tmp take (a tmpfs: its used blocks are its pages); UINT64_MAX if
 * unknown. */
static uint64_t tmp_used(struct lbox_memwatch *w)
{
    struct statfs sf;
    if (w->tmp_fd < 0 || fstatfs(w->tmp_fd, &sf) < 0)
        return UINT64_MAX;
    return (uint64_t)(sf.f_blocks - sf.f_bfree) * (uint64_t)sf.f_bsize;
}

/* The memory the kernel's own limit would hold to `limit`: usage less /tmp (the part of
 * shmem its files hold) and less the page cache of files (active_file + inactive_file,
 * which the kernel reclaims before it kills anything). *exempt = what was left out, for
 * re-arming. */
static uint64_t counted(struct lbox_memwatch *w, uint64_t *exempt)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/memory.stat", w->dir);
    uint64_t shmem = stat_value(path, "shmem"), tmp = tmp_used(w);
    *exempt = (shmem < tmp ? shmem : tmp) + stat_value(path, "active_file") +
              stat_value(path, "inactive_file");
    uint64_t usage = usage_now(w);
    return usage > *exempt ? usage - *exempt : 0;
}

/* v2: memory.events wakes poll() once each time it changes after it was last read. */
static void ack_events(struct lbox_memwatch *w)
{
    char buf[256];
    if (pread(w->armed_fd, buf, sizeof buf, 0) < 0) {
        /* nothing to do: a missed read only means one extra wake-up */
    }
}

static int arm(struct lbox_memwatch *w, uint64_t threshold)
{
    if (w->v2) {
        /* Never below usage: a write of memory.high reclaims down to it there and then, in
         * this thread, for as long as reclaim makes progress. Above the limit (only when
         * the caller is about to kill) the next check does not wait for an event. */
        uint64_t now = usage_now(w);
        char num[32];
        int len = snprintf(num, sizeof num, "%" PRIu64, now > threshold ? now : threshold);
        return pwrite(w->control_fd, num, (size_t)len, 0) == len ? 0 : -1;
    }
    int efd = eventfd(0, EFD_CLOEXEC);
    if (efd < 0)
        return -1;
    char line[96];
    int len = snprintf(line, sizeof line, "%d %d %" PRIu64, efd, w->usage_fd, threshold);
    if (write(w->control_fd, line, (size_t)len) != len) {
        close(efd);
        return -1;
    }
    if (w->armed_fd >= 0)
        close(w->armed_fd);
    w->armed_fd = efd;
    return 0;
}

static uint64_t resident_pages(pid_t pid)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    if (lbox_read_text(path, buf, sizeof buf) < 0)
        return 0;
    unsigned long long size = 0, resident = 0;
    return sscanf(buf, "%llu %llu", &size, &resident) == 2 ? resident : 0;
}

/* SIGKILLs the process of the cgroup with the most resident pages, then waits (up to 2 s)
 * until its memory is released, so that the next check does not pick a second victim
 * while the first is still exiting. */
static void kill_largest(struct lbox_memwatch *w)
{
    char path[PATH_MAX + 32], buf[16384];
    snprintf(path, sizeof path, "%s/cgroup.procs", w->dir);
    if (lbox_read_text(path, buf, sizeof buf) < 0)
        return;
    pid_t victim = 0;
    uint64_t most = 0;
    for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        uint64_t pages = pid == w->spare ? 0 : resident_pages((pid_t)pid);
        if (pages > most) {
            most = pages;
            victim = (pid_t)pid;
        }
        p = end + (*end == '\n');
    }
    if (victim <= 0 || kill(victim, SIGKILL) < 0)
        return;
    for (int i = 0; i < 1000 && resident_pages(victim) > 0; i++)
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
}

static void *watch(void *arg)
{
    struct lbox_memwatch *w = arg;
    for (;;) {
        uint64_t exempt;
        if (counted(w, &exempt) > w->limit) {
            kill_largest(w);
            counted(w, &exempt);
        }
        if (arm(w, w->limit + exempt) < 0)
            return NULL; /* the kernel's limit (memory + /tmp) still holds */
        /* Usage may have crossed the new threshold while it was being registered. */
        if (counted(w, &exempt) > w->limit)
            continue;
        struct pollfd p[2] = {{.fd = w->armed_fd, .events = w->v2 ? POLLPRI : POLLIN},
                              {.fd = w->stop_fd, .events = POLLIN}};
        while (poll(p, 2, -1) < 0 && errno == EINTR)
            ;
        if (p[1].revents)
            return NULL;
        uint64_t ignored;
        if (w->v2)
            ack_events(w);
        else if (read(w->armed_fd, &ignored, sizeof ignored) < 0) {
            /* nothing to drain: the threshold is re-armed below anyway */
        }
    }
}

int lbox_memwatch_start(const char *cgroup_dir, bool v2, uint64_t limit, pid_t spare,
                        int tmp_fd, struct lbox_memwatch **out, struct lbox_error *err)
{
    *out = NULL;
    struct lbox_memwatch *w = lbox_xcalloc(1, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s", cgroup_dir);
    w->limit = limit;
    w->spare = spare;
    w->v2 = v2;
    w->armed_fd = -1;
    w->tmp_fd = tmp_fd;
    char path[PATH_MAX + 32];
    const char *usage = v2 ? "memory.current" : "memory.usage_in_bytes",
               *control = v2 ? "memory.high" : "cgroup.event_control";
    snprintf(path, sizeof path, "%s/%s", cgroup_dir, usage);
    w->usage_fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "%s/%s", cgroup_dir, control);
    w->control_fd = open(path, O_WRONLY | O_CLOEXEC);
    if (v2) {
        snprintf(path, sizeof path, "%s/memory.events", cgroup_dir);
        w->armed_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    w->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (w->usage_fd < 0 || w->control_fd < 0 || (v2 && w->armed_fd < 0) || w->stop_fd < 0) {
        int e = errno;
        lbox_memwatch_stop(w);
        return lbox_err_errno(err, e, "sandbox: opening %s's %s, %s%s", cgroup_dir, usage,
                              control, v2 ? " and memory.events" : "");
    }
    if (v2)
        ack_events(w); /* a fresh open counts as changed: start from what is there */
    int rc = pthread_create(&w->thread, NULL, watch, w);
    if (rc != 0) {
        lbox_memwatch_stop(w);
        return lbox_err_errno(err, rc, "sandbox: starting the memory watch thread");
    }
    w->running = true;
    *out = w;
    return 0;
}

void lbox_memwatch_stop(struct lbox_memwatch *w)
{
    if (!w)
        return;
    if (w->running) {
        uint64_t one = 1;
        if (write(w->stop_fd, &one, sizeof one) == sizeof one)
            pthread_join(w->thread, NULL);
    }
    int fds[] = {w->usage_fd, w->control_fd, w->armed_fd, w->stop_fd, w->tmp_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(w);
}
