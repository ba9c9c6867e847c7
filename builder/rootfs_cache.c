/* The unpacked root filesystems in $XDG_CACHE_HOME/lbox/rootfs/<manifest hex>/: who may
 * delete one, and when.
 *
 * Every image build that changes anything makes a new manifest, and each unpacked rootfs is
 * 200-300 MB; without eviction the cache grows by that much per rebuild. A rootfs is evicted
 * when the store stops referencing its manifest (lbox rm, or a tag moved to a new build).
 *
 * Locks: whoever runs an image holds a shared flock on its rootfs directory for as long as
 * it runs (lbox_rootfs_hold); eviction takes the exclusive lock without waiting. A busy
 * rootfs gets a "<hex>.evict" marker instead; the holder evicts it when it lets go
 * (lbox_rootfs_release), and every later eviction pass retries the marked ones too. An
 * evicted directory is first renamed to .trash-* under the lock (so no new user can find
 * it), then deleted by a detached process: deleting ~40000 files takes a second or two,
 * which neither lbox rm nor a rebuild should wait for.
 *
 * Leftovers: an unpack in progress is a .tmp-* directory its maker holds locked
 * (lbox_cache_temp), and the detached deleter holds each .trash-* it deletes. One nobody
 * holds was left by a killed lbox (an invoke interrupted while unpacking leaves ~200 MB),
 * and the next unpack or eviction pass takes it at once.
 *
 * Several stores may share the cache (it is keyed by content): evicting a rootfs another
 * store still uses only costs that store a new unpack, never a running sandbox. So a store
 * that was deleted, or moved away, does not leave its images here for good: an eviction
 * pass also takes the images its store does not name that nobody has used (held) for
 * LBOX_ROOTFS_UNUSED_DAYS.
 *
 * Bases (base-<key>/, rootfs_base.c) are the lower layers the images' rootfs are hard-link
 * copies of. They follow the same locks, and go when no image of the store has them below
 * its top layer. */
#include "rootfs_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "cache_temp.h"

char *lbox_rootfs_cache_dir(void)
{
    _cleanup_free_ char *cache = lbox_cache_dir();
    return lbox_path_join(cache, "rootfs");
}

int lbox_rootfs_hold(const char *dir, int *fd_out, struct lbox_error *err)
{
    *fd_out = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 1; /* evicted since the caller looked */
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot open %s", dir);
    while (flock(fd, LOCK_SH) < 0)
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return lbox_err_errno(err, e, "cannot lock %s", dir);
        }
    /* An eviction may have renamed it between our open and our lock: then this is the
     * trash, and the caller must unpack again. */
    struct stat held, now;
    if (fstat(fd, &held) < 0 || stat(dir, &now) < 0 || held.st_ino != now.st_ino ||
        held.st_dev != now.st_dev) {
        close(fd);
        return 1;
    }
    /* When it was last used, for the eviction of unpacked images no store names
     * (lbox_rootfs_evict): set explicitly, since a mount's noatime or relatime would not. */
    const struct timespec used[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
    futimens(fd, used);
    *fd_out = fd;
    return 0;
}

bool lbox_rootfs_release(const char *dir, int fd)
{
    close(fd);
    _cleanup_free_ char *marker = lbox_strdupf("%s.evict", dir);
    return access(marker, F_OK) == 0;
}

/* Deletes paths[0..n) in a detached process that holds none of the caller's files. */
static void delete_detached(char **paths, size_t n)
{
    if (n == 0)
        return;
    pid_t pid = fork();
    if (pid != 0)
        return; /* not waited for: init reaps it once lbox exits (or on failure, nothing) */
    syscall(SYS_close_range, 0, ~0U, 0);
    /* Its own session: the Ctrl-C that ends the lbox that started it must not stop it. */
    setsid();
    for (size_t i = 0; i < n; i++) {
        /* Held while deleted, so that sweeps leave it to us; held already: someone else
         * deletes it. */
        int fd;
        if (lbox_cache_lock_temp(paths[i], &fd) < 0)
            continue;
        lbox_rm_rf(paths[i], NULL);
        close(fd);
    }
    _exit(0);
}

/* Renames cache/<name> to a .trash- name if nobody holds it; 1 if busy (marked), 0 if
 * moved to *trash (or already gone: *trash NULL). */
static int take(const char *cache, const char *name, char **trash)
{
    *trash = NULL;
    _cleanup_free_ char *path = lbox_path_join(cache, name);
    _cleanup_free_ char *marker = lbox_strdupf("%s.evict", path);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        unlink(marker);
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        int m = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (m >= 0)
            close(m);
        return 1;
    }
    char *t = lbox_strdupf("%s/.trash-%.12s-%d-%ld", cache, name, (int)getpid(), (long)time(NULL));
    if (rename(path, t) == 0)
        *trash = t;
    else
        free(t);
    close(fd);
    unlink(marker);
    return 0;
}

static bool is_hex64(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == 64 && s[n] == 0;
}

struct paths {
    char **v;
    size_t n, cap;
};

static void add(struct paths *p, char *path)
{
    if (!path)
        return;
    if (p->n == p->cap)
        p->v = lbox_xrealloc(p->v, (p->cap = p->cap ? 2 * p->cap : 16) * sizeof *p->v);
    p->v[p->n++] = path;
}

/* A ".trash-" or ".tmp-" entry a killed lbox left behind: nobody holds it. A .tmp- one is
 * renamed to trash under our lock first, so that its maker, were it only about to lock it,
 * finds it gone (lbox_cache_temp) instead of unpacking into what is being deleted. NULL
 * when not stale. */
static char *take_stale(const char *cache, const char *name)
{
    bool is_tmp = !strncmp(name, ".tmp-", 5);
    if (!is_tmp && strncmp(name, ".trash-", 7))
        return NULL;
    char *path = lbox_path_join(cache, name);
    int fd;
    if (lbox_cache_lock_temp(path, &fd) < 0) {
        free(path);
        return NULL;
    }
    if (is_tmp) {
        char *t = lbox_strdupf("%s/.trash-%s-%d-%ld", cache, name + 5, (int)getpid(),
                               (long)time(NULL));
        if (rename(path, t) == 0) {
            free(path);
            path = t;
        } else {
            free(t);
            free(path);
            path = NULL;
        }
    }
    close(fd);
    return path;
}

/* Takes the leftovers of killed lboxes in the cache into *trash. */
static void take_leftovers(const char *cache, struct paths *trash)
{
    DIR *d = opendir(cache);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] == '.')
            add(trash, take_stale(cache, de->d_name));
    if (d)
        closedir(d);
}

static bool named_in(const char *hex, const char *const *digests, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strncmp(digests[i], "sha256:", 7) && !strcmp(digests[i] + 7, hex))
            return true;
    return false;
}

void lbox_rootfs_sweep(void)
{
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    struct paths trash = {0};
    take_leftovers(cache, &trash);
    delete_detached(trash.v, trash.n);
    for (size_t i = 0; i < trash.n; i++)
        free(trash.v[i]);
    free(trash.v);
}

void lbox_rootfs_mark(const char *dir)
{
    _cleanup_free_ char *marker = lbox_strdupf("%s.evict", dir);
    int m = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (m >= 0)
        close(m);
}

/* The base key of a "base-<key>" or "base-<key>.evict" entry, or NULL. */
static const char *base_key(const char *name, char key[65])
{
    if (strncmp(name, "base-", 5) || strspn(name + 5, "0123456789abcdef") != 64)
        return NULL;
    const char *rest = name + 5 + 64;
    if (*rest && strcmp(rest, ".evict"))
        return NULL;
    memcpy(key, name + 5, 64);
    key[64] = 0;
    return key;
}

static bool key_in(const char *key, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i], key))
            return true;
    return false;
}

/* Takes into *trash the bases whose keys are not in `kept` (a held one is marked, and taken
 * by a later pass); drops the marks of those kept. */
static void take_bases(const char *cache, const char *const *kept, size_t nkept,
                       struct paths *trash)
{
    DIR *d = opendir(cache);
    struct dirent *de;
    char key[65];
    while (d && (de = readdir(d))) {
        if (!base_key(de->d_name, key))
            continue;
        _cleanup_free_ char *name = lbox_strdupf("base-%s", key);
        char *t;
        if (!key_in(key, kept, nkept)) {
            if (take(cache, name, &t) == 0)
                add(trash, t);
        } else if (strchr(de->d_name, '.')) {
            unlinkat(dirfd(d), de->d_name, 0); /* wanted again: no longer to evict */
        }
    }
    if (d)
        closedir(d);
}

void lbox_rootfs_evict(const char *const *gone, size_t ngone, const char *const *kept,
                       size_t nkept, const char *const *kept_bases, size_t nkept_bases)
{
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    struct paths trash = {0};
    char *t;
    for (size_t i = 0; i < ngone; i++) {
        const char *d = gone[i];
        if (!strncmp(d, "sha256:", 7) && is_hex64(d + 7) && take(cache, d + 7, &t) == 0)
            add(&trash, t);
    }
    /* Retry what was busy before; collect what killed processes left behind, and images
     * unused for LBOX_ROOTFS_UNUSED_DAYS that this store does not name. */
    time_t unused_since = time(NULL) - (time_t)LBOX_ROOTFS_UNUSED_DAYS * 24 * 3600;
    DIR *d = opendir(cache);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char hex[NAME_MAX + 1];
        snprintf(hex, sizeof hex, "%s", de->d_name);
        struct stat st;
        if (kept && is_hex64(hex) && !named_in(hex, kept, nkept) &&
            fstatat(dirfd(d), hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
            st.st_atime < unused_since && take(cache, hex, &t) == 0) {
            add(&trash, t);
            continue;
        }
        char *dot = strchr(hex, '.');
        if (dot && dot != hex && !strcmp(dot, ".evict")) {
            *dot = 0;
            if (!is_hex64(hex))
                continue;
            if (named_in(hex, kept, nkept))
                unlinkat(dirfd(d), de->d_name, 0); /* wanted again: no longer to evict */
            else if (take(cache, hex, &t) == 0)
                add(&trash, t);
        }
    }
    if (d)
        closedir(d);
    if (kept_bases)
        take_bases(cache, kept_bases, nkept_bases, &trash);
    take_leftovers(cache, &trash);
    delete_detached(trash.v, trash.n);
    for (size_t i = 0; i < trash.n; i++)
        free(trash.v[i]);
    free(trash.v);
}
