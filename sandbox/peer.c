/* Whether a loopback TCP connection comes from inside a sandbox.
 *
 * With --network host the sandbox shares the host's network namespace, so the Runtime API
 * listens on the host's loopback, where any local process (another sandbox's function
 * among them) could connect, read this environment's events and answer them. The runner
 * asks this before it takes a connection: the connecting socket, found in /proc/net/tcp
 * by its two ends, must be an open file of one of the sandbox's processes (pid 1 and its
 * descendants). The runner may read their fds: as root it may anyway, and as a normal
 * user it created the sandbox's user namespaces and holds every capability in them. */
#include "internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/fsutil.h"

/* The inode of the socket whose local end is `peer` and whose remote end is port
 * `local_port` on 127.0.0.1; 0 when there is none. */
static unsigned long peer_socket_inode(const struct sockaddr_in *peer, uint16_t local_port)
{
    FILE *f = fopen("/proc/net/tcp", "re");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    unsigned long found = 0;
    /* "  sl  local_address rem_address   st tx:rx tr:when retrnsmt uid timeout inode":
     * addresses as the hex of the raw 32-bit value, ports in host order. */
    while (!found && getline(&line, &cap, f) > 0) {
        unsigned long laddr, raddr, inode;
        unsigned lport, rport;
        if (sscanf(line, " %*u: %lX:%X %lX:%X %*X %*s %*s %*s %*u %*u %lu", &laddr, &lport,
                   &raddr, &rport, &inode) == 5 &&
            laddr == peer->sin_addr.s_addr && lport == ntohs(peer->sin_port) &&
            raddr == htonl(INADDR_LOOPBACK) && rport == local_port)
            found = inode;
    }
    free(line);
    fclose(f);
    return found;
}

static bool holds_socket(pid_t pid, const char *want)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool held = false;
    struct dirent *e;
    while (!held && (e = readdir(d))) {
        char link[64];
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
        if (n > 0) {
            link[n] = 0;
            held = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return held;
}

/* Appends the children of every thread of `pid` to the list (at most `cap` in all). */
static void add_children(pid_t pid, pid_t *list, size_t *n, size_t cap)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[96]; /* a thread's folder is named by its id */
        snprintf(path, sizeof path, "/proc/%d/task/%.20s/children", (int)pid, e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        int child;
        while (*n < cap && fscanf(f, "%d", &child) == 1)
            list[(*n)++] = child;
        fclose(f);
    }
    closedir(d);
}

bool lbox_sandbox_has_tcp_peer(struct lbox_sandbox *sb, const struct sockaddr_in *peer,
                               uint16_t local_port)
{
    if (sb->init_pid <= 0 || peer->sin_family != AF_INET)
        return false;
    unsigned long inode = peer_socket_inode(peer, local_port);
    if (!inode)
        return false;
    char want[48];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    /* Breadth first from pid 1; the process limit (nproc 1024) bounds the tree. */
    enum { MAX_PROCS = 4096 };
    pid_t *list = lbox_xcalloc(MAX_PROCS, sizeof *list);
    size_t n = 0;
    list[n++] = sb->init_pid;
    bool inside = false;
    for (size_t i = 0; i < n && !inside; i++) {
        inside = holds_socket(list[i], want);
        add_children(list[i], list, &n, MAX_PROCS);
    }
    free(list);
    return inside;
}
