/* Memory limit and peak measurement through a per-sandbox cgroup: v2 where some cgroup of
 * ours may have a child with a memory controller (see place_v2: the root, a delegated scope,
 * or the nearest slice we may write, as root or under systemd's user manager), else v1's
 * memory hierarchy when writable (root on a legacy or hybrid host). When neither is usable
 * the mode text says why, and create.c falls back to the RSS watchdog in pid 1 (see
 * lbox_sandbox_memory_mode). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <dirent.h>
#include <mntent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* snprintf without gcc's truncation warnings: paths here are bounded by PATH_MAX and a
 * cut message is acceptable. */
static void __attribute__((format(printf, 3, 4))) sfmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static int write_small(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX + 64];
    sfmt(path, sizeof path, "%s/%s", dir, file);
    return lbox_write_text(path, text);
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
            (p[n] == 0 || p[n] == ' ' || p[n] == '\n' || p[n] == ','))
            return true;
    return false;
}

/* The caller's cgroup path in the hierarchy whose controller list contains `ctrl`
 * ("" selects the v2 line "0::/path"). */
static int own_cgroup(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -1;
    char line[1024];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        bool match = ctrl[0] ? has_word(c1 + 1, ctrl) : (c1[1] == 0 && !strncmp(line, "0:", 2));
        if (match) {
            c2[1 + strcspn(c2 + 1, "\n")] = 0;
            sfmt(out, len, "%s", c2 + 1);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void unique_name(char *out, size_t len)
{
    static atomic_uint counter;
    sfmt(out, len, "lbox-%d-%u", (int)getpid(), atomic_fetch_add(&counter, 1));
}

/* Whether name is one lbox gives cgroups: lbox-<pid>-<n> for a sandbox, lbox-<pid>-runner
 * for a runner's own leaf (see take_over). */
static bool stale_name(const char *name, int *pid)
{
    int end = 0;
    if (sscanf(name, "lbox-%d-%n", pid, &end) != 1 || end == 0)
        return false;
    const char *rest = name + end;
    return !strcmp(rest, "runner") || (*rest && strspn(rest, "0123456789") == strlen(rest));
}

/* Removes the cgroups that runners killed before their clean-up left in parent: named
 * as above, that pid gone, older than a minute (a runner of another pid namespace,
 * whose pid we cannot see, is not caught between its mkdir and its move). A cgroup with
 * processes left cannot be removed, so nothing alive is touched. */
static void sweep_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid;
        if (!stale_name(e->d_name, &pid) || pid <= 0 ||
            pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[PATH_MAX];
        struct stat st;
        sfmt(path, sizeof path, "%s/%s", parent, e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && now - st.st_mtime > 60)
            rmdir(path);
    }
    closedir(d);
}

/* Whether the children of cgroup dir may have a memory controller (dir/cgroup.subtree_control
 * lists it). */
static bool children_have_memory(const char *dir)
{
    char path[PATH_MAX + 64], buf[512];
    sfmt(path, sizeof path, "%s/cgroup.subtree_control", dir);
    return lbox_read_text(path, buf, sizeof buf) == 0 && has_word(buf, "memory");
}

/* Whether this process is the only one in cgroup dir. */
static bool alone_in(const char *dir)
{
    char path[PATH_MAX + 64];
    sfmt(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    int pid, n = 0;
    bool alone = true;
    while (fscanf(f, "%d", &pid) == 1)
        if (n++, pid != getpid())
            alone = false;
    fclose(f);
    return alone && n == 1;
}

/* Whether we may write dir's cgroup.procs: moving a process between two cgroups below dir
 * takes that, besides the right to write the destination's. */
static bool procs_writable(const char *dir)
{
    char path[PATH_MAX + 64];
    sfmt(path, sizeof path, "%s/cgroup.procs", dir);
    return access(path, W_OK) == 0;
}

/* Makes the sandbox's cgroup, lbox-<pid>-<n>, under parent: 0, or -1 with errno. */
static int make_child(struct lbox_cgroup *cg, const char *parent)
{
    char name[64];
    sweep_stale(parent);
    unique_name(name, sizeof name);
    sfmt(cg->dir, sizeof cg->dir, "%s/%s", parent, name);
    return mkdir(cg->dir, 0755);
}

/* We are alone in own, a cgroup we may write (a delegated scope): as crun does, move into a
 * leaf of it, lbox-<pid>-runner, so that own holds no process and may give its children
 * memory. The leaf stays for the rest of our life (and our remover's); sweep_stale, or
 * systemd ending the scope, removes it. One runner makes one sandbox today; one that made
 * more, one after another, would find itself alone in the leaf and nest another. */
static int take_over(const char *own)
{
    char leaf[PATH_MAX], pid[32];
    sfmt(leaf, sizeof leaf, "%s/lbox-%d-runner", own, (int)getpid());
    sfmt(pid, sizeof pid, "%d", (int)getpid());
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return -1;
    if (write_small(leaf, "cgroup.procs", pid) < 0) {
        rmdir(leaf);
        return -1;
    }
    if (write_small(own, "cgroup.subtree_control", "+memory") < 0) {
        int saved = errno;
        write_small(own, "cgroup.procs", pid);
        rmdir(leaf);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Where the sandbox's cgroup goes on v2. A cgroup that holds processes cannot give its
 * children a memory controller (the "no internal processes" rule; only the root is exempt),
 * and ours holds at least lbox. So, in order:
 *  1. our own cgroup, when its children have memory already (we are in the root);
 *  2. our own cgroup, when we are alone in it and may write it: a delegated scope such as
 *     `systemd-run --user --scope -p Delegate=yes lbox ...` (see take_over);
 *  3. the nearest ancestor whose children have memory and where we may make a cgroup: as
 *     root, a slice or the root; as a desktop user, systemd's user manager delegates its
 *     whole tree (app.slice and up to user@UID.service) to the user.
 * The sandbox's process is then moved from our cgroup into the new one, which the kernel
 * allows when we may write the cgroup.procs of the new one (we made it) and of the common
 * ancestor: ours in 1 and 2, checked in 3. */
static int place_v2(struct lbox_cgroup *cg, const char *mnt, const char *own, char *why,
                    size_t whylen)
{
    if (children_have_memory(own) && make_child(cg, own) == 0)
        return 0;
    if (access(own, W_OK) == 0 && alone_in(own) && take_over(own) == 0 &&
        make_child(cg, own) == 0)
        return 0;
    char dir[PATH_MAX];
    sfmt(dir, sizeof dir, "%s", own);
    size_t root_len = strlen(mnt);
    while (strlen(dir) > root_len) {
        *strrchr(dir, '/') = 0;
        const char *at = strlen(dir) > root_len ? dir : mnt;
        if (children_have_memory(at) && procs_writable(at) && make_child(cg, at) == 0)
            return 0;
    }
    sfmt(why, whylen,
         "v2: no cgroup of ours may have a memory limit (%s holds processes besides lbox, "
         "and no cgroup above it both has memory for its children and lets us make one; "
         "run lbox in a delegated cgroup: systemd-run --user --scope -p Delegate=yes lbox ...)",
         own);
    return -1;
}

/* Our cgroup's directory in the v2 hierarchy mounted at mnt. */
static int own_v2(const char *mnt, char *out, size_t len)
{
    char path[PATH_MAX / 2];
    if (own_cgroup("", path, sizeof path) < 0)
        return -1;
    sfmt(out, len, "%s%s", mnt, strcmp(path, "/") ? path : "");
    return 0;
}

static int try_v2(struct lbox_cgroup *cg, unsigned memory_mb, unsigned tmp_mb, char *why,
                  size_t whylen)
{
    const char *mnt = NULL;
    struct statfs sf;
    if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
        mnt = "/sys/fs/cgroup";
    else if (statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
        mnt = "/sys/fs/cgroup/unified";
    if (!mnt)
        return sfmt(why, whylen, "v2: not mounted"), -1;
    char own[PATH_MAX], buf[512];
    if (own_v2(mnt, own, sizeof own) < 0)
        return sfmt(why, whylen, "v2: no entry in /proc/self/cgroup"), -1;
    sfmt(buf, sizeof buf, "%s/cgroup.controllers", own);
    if (lbox_read_text(buf, buf, sizeof buf) < 0 || !has_word(buf, "memory"))
        return sfmt(why, whylen, "v2: no memory controller available in %s", own), -1;
    if (place_v2(cg, mnt, own, why, whylen) < 0) {
        /* Nothing of ours: the user's systemd, when it is there, delegates a scope. */
        if (!lbox_systemd_user_bus_present())
            return -1;
        char bus_why[512] = "";
        if (lbox_systemd_scope_enter(bus_why, sizeof bus_why) < 0 ||
            own_v2(mnt, own, sizeof own) < 0 ||
            place_v2(cg, mnt, own, bus_why, sizeof bus_why) < 0) {
            size_t used = strlen(why);
            sfmt(why + used, whylen - used, "; nor did the user's systemd give one: %s",
                 bus_why);
            return -1;
        }
    }
    if (memory_mb) {
        /* As on v1 (see try_v1): room for a full /tmp, and memwatch.c holds the rest. */
        sfmt(buf, sizeof buf, "%" PRIu64, (uint64_t)(memory_mb + tmp_mb) << 20);
        if (write_small(cg->dir, "memory.max", buf) < 0) {
            sfmt(why, whylen, "v2: writing memory.max: %s", strerror(errno));
            rmdir(cg->dir);
            return -1;
        }
        write_small(cg->dir, "memory.swap.max", "0"); /* absent without swap accounting */
    }
    if (!memory_mb) { /* with a limit, /tmp is in the peak: see lbox_cgroup_peak */
        sfmt(buf, sizeof buf, "%s/memory.peak", cg->dir);
        cg->peak_fd = open(buf, O_RDWR | O_CLOEXEC);
        if (cg->peak_fd < 0)
            cg->peak_fd = open(buf, O_RDONLY | O_CLOEXEC);
    }
    cg->kind = LBOX_CG_V2;
    cg->tmp_outside = (uint64_t)memory_mb << 20;
    if (memory_mb)
        sfmt(cg->mode, sizeof cg->mode,
             "cgroup v2 (%s): memory.max %u MB = %u MB for the function plus %u MB for /tmp, "
             "whose pages the kernel charges here; the runner kills the largest process when "
             "memory other than /tmp passes %u MB (memory.high event)",
             cg->dir, memory_mb + tmp_mb, memory_mb, tmp_mb, memory_mb);
    else
        sfmt(cg->mode, sizeof cg->mode, "cgroup v2 (%s, no limit requested)", cg->dir);
    return 0;
}

static int try_v1(struct lbox_cgroup *cg, unsigned memory_mb, unsigned tmp_mb, char *why,
                  size_t whylen)
{
    char mnt[PATH_MAX / 2] = "", own[PATH_MAX / 4], buf[64], name[64];
    FILE *f = setmntent("/proc/self/mounts", "re");
    if (f) {
        struct mntent *m;
        while ((m = getmntent(f)))
            if (!strcmp(m->mnt_type, "cgroup") && hasmntopt(m, "memory")) {
                sfmt(mnt, sizeof mnt, "%s", m->mnt_dir);
                break;
            }
        endmntent(f);
    }
    if (!mnt[0])
        return sfmt(why, whylen, "v1: no memory hierarchy mounted"), -1;
    if (own_cgroup("memory", own, sizeof own) < 0)
        return sfmt(why, whylen, "v1: no memory entry in /proc/self/cgroup"), -1;
    char parent[PATH_MAX];
    sfmt(parent, sizeof parent, "%s%s", mnt, strcmp(own, "/") ? own : "");
    sweep_stale(parent);
    unique_name(name, sizeof name);
    sfmt(cg->dir, sizeof cg->dir, "%s/%s", parent, name);
    if (mkdir(cg->dir, 0755) < 0)
        return sfmt(why, whylen, "v1: mkdir %s: %s", cg->dir, strerror(errno)), -1;
    if (memory_mb) {
        /* /tmp's pages are charged here too, but on Lambda /tmp is disk: the hard limit
         * leaves room for a full /tmp, and memwatch.c holds the rest to memory_mb. */
        sfmt(buf, sizeof buf, "%" PRIu64, (uint64_t)(memory_mb + tmp_mb) << 20);
        if (write_small(cg->dir, "memory.limit_in_bytes", buf) < 0) {
            sfmt(why, whylen, "v1: writing memory.limit_in_bytes: %s", strerror(errno));
            rmdir(cg->dir);
            return -1;
        }
        /* memory+swap: only present with swap accounting; keeps swap from hiding usage. */
        write_small(cg->dir, "memory.memsw.limit_in_bytes", buf);
    }
    cg->kind = LBOX_CG_V1;
    cg->tmp_outside = (uint64_t)memory_mb << 20;
    if (memory_mb)
        sfmt(cg->mode, sizeof cg->mode,
             "cgroup v1 (%s): memory.limit_in_bytes %u MB = %u MB for the function plus %u MB "
             "for /tmp, whose pages the kernel charges here; the runner kills the largest "
             "process when memory other than /tmp passes %u MB (usage threshold event)",
             cg->dir, memory_mb + tmp_mb, memory_mb, tmp_mb, memory_mb);
    else
        sfmt(cg->mode, sizeof cg->mode, "cgroup v1 (%s, no limit requested)", cg->dir);
    return 0;
}

/* rmdir fails with EBUSY while processes are in the cgroup, and for a moment after, while
 * the kernel uncharges them; ~1 s at most. Async-signal-safe (used after fork). */
static void remove_when_empty(const char *dir)
{
    for (int i = 0; i < 200 && rmdir(dir) < 0 && errno == EBUSY; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
}

/* The runner may die without a word (Ctrl-C's default action, kill -9, the OOM killer),
 * and only a process outside the cgroup can remove it. So one waits from the start, on a
 * pipe whose only writer is the runner: EOF comes when the runner closes it or dies.
 * Without it (fork failed), sweep_stale in a later runner is the fallback. */
static void start_remover(struct lbox_cgroup *cg)
{
    int p[2];
    cg->remover_fd = -1;
    cg->remover_pid = -1;
    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls: the runner may have threads. Its own session, so
         * the terminal's Ctrl-C and hang-up, which end the runner, do not end this. */
        setsid();
        if (p[0] > 0)
            syscall(SYS_close_range, 0, p[0] - 1, 0);
        syscall(SYS_close_range, p[0] + 1, ~0U, 0);
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        remove_when_empty(cg->dir);
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    cg->remover_fd = p[1];
    cg->remover_pid = pid;
}

void lbox_cgroup_create(struct lbox_cgroup *cg, unsigned memory_mb, unsigned tmp_mb)
{
    char why2[PATH_MAX + 256] = "", why1[PATH_MAX + 256] = "";
    memset(cg, 0, sizeof *cg);
    cg->peak_fd = -1;
    cg->remover_fd = -1;
    cg->remover_pid = -1;
    if (try_v2(cg, memory_mb, tmp_mb, why2, sizeof why2) == 0 ||
        try_v1(cg, memory_mb, tmp_mb, why1, sizeof why1) == 0) {
        start_remover(cg);
        return;
    }
    cg->kind = LBOX_CG_NONE;
    cg->dir[0] = 0;
    sfmt(cg->mode, sizeof cg->mode, "no usable cgroup (%.200s; %.200s)", why2, why1);
}

int lbox_cgroup_attach(struct lbox_cgroup *cg, pid_t pid, struct lbox_error *err)
{
    if (cg->kind == LBOX_CG_NONE)
        return 0;
    char buf[32];
    sfmt(buf, sizeof buf, "%d", (int)pid);
    if (write_small(cg->dir, "cgroup.procs", buf) < 0)
        return lbox_err_errno(err, errno, "sandbox: moving pid %d into %s/cgroup.procs",
                              (int)pid, cg->dir);
    return 0;
}

int lbox_cgroup_open_tasks(struct lbox_cgroup *cg)
{
    if (cg->kind != LBOX_CG_V1)
        return -1;
    char path[PATH_MAX + 64];
    sfmt(path, sizeof path, "%s/tasks", cg->dir);
    return open(path, O_WRONLY | O_CLOEXEC);
}

uint64_t lbox_cgroup_peak(struct lbox_cgroup *cg)
{
    char buf[64], path[PATH_MAX + 64];
    /* The cgroup's peak includes /tmp, and /tmp's share of it at that moment is not
     * recorded (it may have shrunk since): 0 here leaves Max Memory Used to the processes'
     * own peaks, which pid 1 measures and which never include /tmp. */
    if (cg->tmp_outside)
        return 0;
    if (cg->kind == LBOX_CG_V2) {
        if (cg->peak_fd < 0)
            return 0;
        ssize_t n = pread(cg->peak_fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            return 0;
        buf[n] = 0;
        return strtoull(buf, NULL, 10);
    }
    if (cg->kind == LBOX_CG_V1) {
        sfmt(path, sizeof path, "%s/memory.max_usage_in_bytes", cg->dir);
        if (lbox_read_text(path, buf, sizeof buf) < 0)
            return 0;
        return strtoull(buf, NULL, 10);
    }
    return 0;
}

void lbox_cgroup_peak_reset(struct lbox_cgroup *cg)
{
    if (cg->tmp_outside)
        return; /* not read either: see lbox_cgroup_peak */
    /* v2: Linux >= 6.12 resets the peak seen through this fd; older kernels keep the
     * all-time peak (the value is then a peak since creation, never an echo). */
    if (cg->kind == LBOX_CG_V2 && cg->peak_fd >= 0 && pwrite(cg->peak_fd, "0\n", 2, 0) < 0)
        return;
    if (cg->kind == LBOX_CG_V1)
        write_small(cg->dir, "memory.max_usage_in_bytes", "0");
}

static void release_remover(struct lbox_cgroup *cg, bool wait)
{
    if (cg->remover_fd >= 0)
        close(cg->remover_fd);
    cg->remover_fd = -1;
    /* Not waited for when detached: it outlives the runner and init reaps it. */
    if (wait && cg->remover_pid > 0)
        while (waitpid(cg->remover_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    cg->remover_pid = -1;
}

void lbox_cgroup_destroy(struct lbox_cgroup *cg)
{
    if (cg->peak_fd >= 0)
        close(cg->peak_fd);
    cg->peak_fd = -1;
    if (cg->kind == LBOX_CG_NONE)
        return;
    remove_when_empty(cg->dir);
    release_remover(cg, true); /* finds the cgroup gone and exits at once */
    cg->kind = LBOX_CG_NONE;
}

void lbox_cgroup_destroy_detached(struct lbox_cgroup *cg)
{
    if (cg->peak_fd >= 0)
        close(cg->peak_fd);
    cg->peak_fd = -1;
    if (cg->kind == LBOX_CG_NONE)
        return;
    release_remover(cg, false);
    cg->kind = LBOX_CG_NONE;
}
