/* Host ids of a sandbox that root starts: one uid and gid of its own, instead of the host's
 * nobody (65534) that every such sandbox used to share with each other and with the host's
 * own nobody services.
 *
 * Why: the kernel keeps some budgets per host user, not per namespace: epoll watches
 * (fs.epoll.max_user_watches) and pipe buffer pages (fs.pipe-user-pages-soft) among them.
 * A function that exhausted nobody's epoll watches made epoll_ctl fail
 * for every other root-run sandbox (node needs epoll) and for the host's nobody processes.
 * With a user of its own, it exhausts only itself. (Docker's userns-remap and
 * systemd-nspawn's --private-users=pick give containers id ranges of their own for the same
 * reason.)
 *
 * The ids come from LBOX_ROOT_IDS_BASE .. + LBOX_ROOT_IDS_COUNT, a range no distribution
 * hands out (above systemd's container range, below 2^31). Each one in use is held by an
 * flock on /run/lbox/ids/<uid> for the sandbox's life, so concurrent lboxes never share one.
 * When none can be had (no /run, all taken), the sandbox falls back to nobody. A build's
 * sandbox reserves its ids before it exists, to make its binds writable for them. */
#include "internal.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_DIR "/run/lbox/ids"

/* As root: a uid and gid from the range, held while the returned fd is open; -1 when
 * none can be had. */
static int reserve_from_range(uid_t *uid, gid_t *gid)
{
    /* 0700: the locks are root's business alone. */
    if ((mkdir("/run/lbox", 0700) < 0 && errno != EEXIST) ||
        (mkdir(LOCK_DIR, 0700) < 0 && errno != EEXIST))
        return -1;
    /* A random first slot: concurrent lboxes do not all contend for the same ones. */
    unsigned start = 0;
    if (getrandom(&start, sizeof start, GRND_NONBLOCK) != sizeof start)
        start = (unsigned)getpid();
    for (unsigned i = 0; i < LBOX_ROOT_IDS_COUNT; i++) {
        unsigned id = LBOX_ROOT_IDS_BASE + (start + i) % LBOX_ROOT_IDS_COUNT;
        char path[64];
        snprintf(path, sizeof path, LOCK_DIR "/%u", id);
        int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            *uid = (uid_t)id;
            *gid = (gid_t)id;
            return fd;
        }
        close(fd);
    }
    return -1;
}

void lbox_sandbox_ids_reserve(struct lbox_sandbox_ids *ids)
{
    ids->lock = -1;
    if (geteuid() != 0) { /* the only ids a normal user's namespace may map */
        ids->uid = geteuid();
        ids->gid = getegid();
        return;
    }
    ids->uid = LBOX_SANDBOX_ROOT_HOST_UID;
    ids->gid = LBOX_SANDBOX_ROOT_HOST_GID;
    ids->lock = reserve_from_range(&ids->uid, &ids->gid);
}

void lbox_sandbox_ids_release(struct lbox_sandbox_ids *ids)
{
    if (ids->lock >= 0)
        close(ids->lock);
    ids->lock = -1;
}
