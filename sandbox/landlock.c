/* Landlock scopes for the sandbox: no connecting to abstract UNIX sockets, no signals, beyond
 * the sandbox itself.
 *
 * Abstract UNIX sockets belong to the network namespace and have no file permissions. With
 * --network host (and the build's npm install, which needs the network) the sandbox shares
 * the host's namespace, so without this a function could reach any abstract socket on the
 * host: an X server, a container shim, a desktop session bus. Landlock (ABI 6, Linux 6.12)
 * can scope both to the sandbox's own processes. pid 1 restricts itself once, before it
 * starts anything, so the runtime and the extensions share one domain and can still use
 * abstract sockets among themselves.
 *
 * Debian 12's kernel headers predate scopes, so the few names needed are defined here. */
#include "internal.h"
#include "sandbox.h"

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)
#define FIRST_ABI_WITH_SCOPES 6

struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

bool lbox_sandbox_scopes_sockets(void)
{
    return syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >=
           FIRST_ABI_WITH_SCOPES;
}

int lbox_landlock_scope(void)
{
    if (!lbox_sandbox_scopes_sockets())
        return 1; /* Landlock absent, disabled or too old: nothing to apply */
    struct ruleset_attr attr = {.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL};
    int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0)
        return -1;
    int r = (int)syscall(SYS_landlock_restrict_self, fd, 0);
    int e = errno;
    close(fd);
    errno = e;
    return r < 0 ? -1 : 0;
}
