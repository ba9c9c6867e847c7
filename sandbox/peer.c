/* Whether a loopback TCP connection comes from inside a sandbox.
 *
 * With --network host the sandbox shares the host's network namespace, so the Runtime API
 * listens on the host's loopback, where any local process (another sandbox's function
 * among them) could connect, read this environment's events and answer them. The runner
 * asks this before it takes a connection: the connecting socket, found by its two ends,
 * must be an open file of one of the sandbox's processes (pid 1 and its descendants). The
 * runner may read their fds: as root it may anyway, and as a normal user it created the
 * sandbox's user namespaces and holds every capability in them. */
#include "internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/fsutil.h"

/* The inode of the socket whose local end is `peer` and whose remote end is port
 * `local_port` on 127.0.0.1, and the host uid that made it; 0 when there is none. One exact
 * lookup through sock_diag, as `ss` makes them: the kernel finds the socket in its hash
 * table, where reading /proc/net/tcp would walk every TCP socket of the host (and a flood
 * of connections makes that list long). */
static unsigned long peer_socket_inode(const struct sockaddr_in *peer, uint16_t local_port,
                                       uid_t *uid)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return 0;
    struct {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 req;
    } ask = {
        .nh = {.nlmsg_len = sizeof ask, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
               .nlmsg_flags = NLM_F_REQUEST},
        .req = {.sdiag_family = AF_INET, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0U,
                .id = {.idiag_sport = peer->sin_port, .idiag_dport = htons(local_port),
                       .idiag_src = {peer->sin_addr.s_addr},
                       .idiag_dst = {htonl(INADDR_LOOPBACK)},
                       .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
    };
    unsigned long inode = 0;
    union {
        struct nlmsghdr nh;
        char bytes[8192]; /* the message and whatever attributes this kernel adds */
    } answer;
    ssize_t n = -1;
    if (send(fd, &ask, sizeof ask, 0) == (ssize_t)sizeof ask)
        n = recv(fd, &answer, sizeof answer, MSG_DONTWAIT);
    /* The kernel answers within the send: one message, the socket or an error (ENOENT). */
    if (n > 0 && NLMSG_OK(&answer.nh, (size_t)n) &&
        answer.nh.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        answer.nh.nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
        const struct inet_diag_msg *m = NLMSG_DATA(&answer.nh);
        inode = m->idiag_inode;
        *uid = m->idiag_uid;
    }
    close(fd);
    return inode;
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

bool lbox_sandbox_has_tcp_peer(struct lbox_sandbox *sb, const struct sockaddr_in *peer,
                               uint16_t local_port)
{
    if (sb->init_pid <= 0 || peer->sin_family != AF_INET)
        return false;
    uid_t uid = (uid_t)-1;
    unsigned long inode = peer_socket_inode(peer, local_port, &uid);
    /* Every process of the sandbox runs as that one host id: another user's socket is turned
     * away without walking the sandbox's processes. */
    if (!inode || uid != sb->host_uid)
        return false;
    char want[48];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    size_t n;
    pid_t *list = lbox_sandbox_pids(sb, &n);
    bool inside = false;
    for (size_t i = 0; i < n && !inside; i++)
        inside = holds_socket(list[i], want);
    free(list);
    return inside;
}
