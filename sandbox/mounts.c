/* The sandbox's file system view, built inside its new mount namespace (sandbox side: no
 * malloc). The image root is bind-mounted over the host's /tmp directory (a mount point
 * that exists everywhere and is private to this namespace), made read-only, given a fresh
 * /proc, a minimal /dev and a /tmp tmpfs, and then becomes / through pivot_root(".", "."),
 * the old root being detached from underneath. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAIL(msg)                                                                          \
    do {                                                                                   \
        *what = (msg);                                                                     \
        return -1;                                                                         \
    } while (0)

/* Flags the kernel locks on a bind mount made in a user namespace (nosuid, nodev, noexec,
 * atime): a remount must repeat them or it fails with EPERM. */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

static int remount_ro(const char *path, unsigned long extra)
{
    return mount(NULL, path, NULL,
                 MS_BIND | MS_REMOUNT | MS_RDONLY | extra | locked_flags(path), NULL);
}

/* Read-only bind of a /proc entry over itself, as bubblewrap and Docker do for the parts
 * of /proc that could change the host (sysctls, sysrq, irq affinity). */
static int proc_cover(const char *path)
{
    if (access(path, F_OK) < 0)
        return 0;
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return -1;
    return remount_ro(path, MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

/* Hides a /proc file that leaks host details (kernel memory, timers, keys). */
static int proc_mask(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode))
        return mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "size=0,mode=0555");
    return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

/* Caps the sandbox's share of the invoking user's inotify budget: the limits in
 * /proc/sys/user belong to pid 1's user namespace, where pid 1 holds CAP_SYS_RESOURCE, and
 * bound everything the namespaces under it use. A kernel without them has no such chain. */
static int cap_inotify(void)
{
    static const struct { const char *file, *value; } caps[] = {
        {"proc/sys/user/max_inotify_instances", LBOX_SANDBOX_INOTIFY_INSTANCES},
        {"proc/sys/user/max_inotify_watches", LBOX_SANDBOX_INOTIFY_WATCHES},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (lbox_write_text(caps[i].file, caps[i].value) < 0 && errno != ENOENT)
            return -1;
    return 0;
}

static int make_proc(const struct lbox_child_plan *plan, const char **what)
{
    static const char *const covers[] = {"proc/sys", "proc/sysrq-trigger", "proc/irq",
                                         "proc/bus", "proc/fs"};
    static const char *const masks[] = {"proc/kcore",       "proc/keys",
                                        "proc/timer_list",  "proc/sched_debug",
                                        "proc/latency_stats", "proc/acpi",
                                        "proc/scsi",        "proc/asound"};
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        FAIL("mounting a new /proc (the image needs a /proc directory)");
    /* binfmt_misc goes on the sandbox's own /proc before /proc/sys turns read-only. */
    if (plan->qemu && plan->binfmt_private &&
        lbox_binfmt_register_private(plan, "proc/sys/fs/binfmt_misc", what) < 0)
        return -1;
    if (cap_inotify() < 0)
        FAIL("capping inotify in /proc/sys/user (max_inotify_instances, max_inotify_watches)");
    for (size_t i = 0; i < sizeof covers / sizeof covers[0]; i++)
        if (proc_cover(covers[i]) < 0)
            FAIL("read-only cover over /proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus "
                 "or /proc/fs");
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++)
        if (proc_mask(masks[i]) < 0)
            FAIL("masking /proc/kcore, /proc/keys, /proc/timer_list and similar");
    return 0;
}

static int make_dev(const char **what)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom"};
    static const struct { const char *target, *link; } links[] = {
        {"/proc/self/fd", "dev/fd"},       {"/proc/self/fd/0", "dev/stdin"},
        {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
        {"pts/ptmx", "dev/ptmx"},
    };
    char src[32], dst[32];

    if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
        FAIL("mounting a tmpfs on /dev (the image needs a /dev directory)");
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        /* A user namespace cannot mknod devices: bind the host's nodes instead. */
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        snprintf(dst, sizeof dst, "dev/%s", nodes[i]);
        int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            FAIL("creating a mount point in /dev");
        close(fd);
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
            FAIL("binding /dev/null, zero, full, random or urandom from the host");
    }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlink(links[i].target, links[i].link) < 0)
            FAIL("creating /dev symlinks");
    if (mkdir("dev/shm", 01777) < 0 || mkdir("dev/pts", 0755) < 0)
        FAIL("creating /dev/shm and /dev/pts");
    if (mount("tmpfs", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=1777,size=64m") < 0)
        FAIL("mounting /dev/shm");
    /* Every devpts instance draws from one pool (kernel.pty.max less the host's reserve):
     * max= keeps a function from taking it from other sandboxes and rootless containers. */
    if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=620,max=" LBOX_SANDBOX_PTYS) < 0)
        FAIL("mounting a private devpts on /dev/pts");
    if (remount_ro("dev", MS_NOSUID | MS_NOEXEC) < 0)
        FAIL("making /dev read-only");
    return 0;
}

int lbox_mounts_build(const struct lbox_child_plan *plan, const char **what)
{
    /* 1. Nothing we mount propagates back to the host, nothing of the host's comes in. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL("making the mount tree private");
    /* 2. The image root over /tmp (recursive: a plain bind could uncover hidden mounts).
     *    The source is the fd the runner opened, so paths the mapped user could not
     *    traverse (root's home) still work. */
    char src[32];
    snprintf(src, sizeof src, "/proc/self/fd/%d", LBOX_FD_ROOTFS);
    if (mount(src, "/tmp", NULL, MS_BIND | MS_REC, NULL) < 0)
        FAIL("bind-mounting the image root");
    if (chdir("/tmp") < 0)
        FAIL("entering the new root");
    /* 3. Read-only root; /var/task and /opt are part of it. */
    if (remount_ro(".", MS_NOSUID | MS_NODEV) < 0)
        FAIL("remounting the image root read-only");
    /* 3b. Read-write binds (build sandboxes) over directories of the read-only root. */
    for (unsigned i = 0; i < plan->nbinds; i++) {
        snprintf(src, sizeof src, "/proc/self/fd/%d", LBOX_FD_BIND0 + (int)i);
        if (mount(src, plan->bind_target[i], NULL, MS_BIND | MS_REC, NULL) < 0)
            FAIL("bind-mounting a read-write directory");
        if (mount(NULL, plan->bind_target[i], NULL,
                  MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | locked_flags(plan->bind_target[i]),
                  NULL) < 0)
            FAIL("remounting a read-write bind nosuid,nodev");
    }
    /* 4. /proc, /dev, /tmp on top of the read-only root (mount points need no write). */
    if (make_proc(plan, what) < 0)
        return -1;
    if (make_dev(what) < 0)
        return -1;
    if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan->tmp_opts) < 0)
        FAIL("mounting the /tmp tmpfs (the image needs a /tmp directory)");
    /* 5. Switch roots: the old root ends up stacked under the new one; detach it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        FAIL("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        FAIL("detaching the old root");
    if (chdir("/") < 0)
        FAIL("chdir /");
    return 0;
}
