/* User namespaces of a sandbox. Two levels, as bubblewrap does when it needs root inside
 * for set-up:
 *
 *  - the sandbox namespace (pid 1's), written by the runner: uid/gid 0 -> one host id.
 *    pid 1 is root there: it can own and write its private binfmt_misc register file
 *    (owned by the namespace's root) and set up mounts.
 *      normal user: 0 -> the caller (the only mapping the kernel allows without
 *      privileges; setgroups "deny" first);
 *      root: 0 -> a host uid:gid of the sandbox's own (host_ids.c; nobody:nogroup when
 *      none can be had), so the sandbox holds no host privilege even if it escaped;
 *      setgroups stays "allow" so pid 1 can drop root's groups.
 *  - a per-process namespace under it, made by each process pid 1 starts: 993 -> 0 and
 *    990 -> 0 (written by the process itself, before it drops its capabilities), so what
 *    runs sees itself as 993:990 and holds no capability over pid 1's namespace (which
 *    owns the mounts, the pid and network namespaces).
 * Files in the image owned by the host id appear as 993; others as the overflow id and
 * are only readable where "other" may read, as on Lambda. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lbox_write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    if (n != (ssize_t)strlen(text)) {
        errno = n < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

int lbox_read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = 0;
    return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text, struct lbox_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    if (lbox_write_text(path, text) < 0)
        return lbox_err_errno(err, errno,
                              "sandbox: writing \"%.*s\" to %s (user namespaces may be "
                              "restricted: check sysctl user.max_user_namespaces)",
                              (int)strcspn(text, "\n"), text, path);
    return 0;
}

int lbox_userns_write_maps(pid_t pid, bool as_root, uid_t host_uid, gid_t host_gid,
                           struct lbox_error *err)
{
    char line[64];
    if (!as_root && write_proc(pid, "setgroups", "deny", err) < 0)
        return -1;
    snprintf(line, sizeof line, "0 %u 1\n", (unsigned)host_gid);
    if (write_proc(pid, "gid_map", line, err) < 0)
        return -1;
    snprintf(line, sizeof line, "0 %u 1\n", (unsigned)host_uid);
    return write_proc(pid, "uid_map", line, err);
}

/* Sandbox side (no malloc): called by a process pid 1 started, after unshare(CLONE_NEWUSER). */

int lbox_userns_enter_user(void)
{
    if (unshare(CLONE_NEWUSER) < 0)
        return -1;
    /* The kernel lets a process without privilege in the parent namespace map exactly its
     * own ids, once setgroups is denied. */
    if (lbox_write_text("/proc/self/setgroups", "deny") < 0 ||
        lbox_write_text("/proc/self/gid_map", "990 0 1\n") < 0 ||
        lbox_write_text("/proc/self/uid_map", "993 0 1\n") < 0)
        return -1;
    return 0;
}
