/* A delegated cgroup from the user's systemd, for cgroup v2 hosts where nothing above
 * lbox's own cgroup is the user's: an ssh login, whose session scope and slices belong to
 * root. The user's systemd manager can still give the user a cgroup of their own: lbox
 * asks it over its D-Bus bus for a transient scope that holds lbox and is delegated to the
 * user (StartTransientUnit with PIDs and Delegate=yes, as `systemd-run --user --scope -p
 * Delegate=yes` and podman do), then places the sandbox's cgroup there as in any delegated
 * scope (cgroup.c, take_over). The manager moves lbox even from root's session scope: where
 * it may not, it asks the system manager to.
 *
 * libsystemd is loaded only here, and only when a user bus is there to ask: most runs find
 * a cgroup without it, and loading it costs every command a few milliseconds. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "common/dl.h"

#define LIBSYSTEMD_SONAME "libsystemd.so.0"

static struct {
    int (*open_user)(sd_bus **);
    int (*new_method_call)(sd_bus *, sd_bus_message **, const char *, const char *,
                           const char *, const char *);
    int (*append)(sd_bus_message *, const char *, ...);
    int (*call)(sd_bus *, sd_bus_message *, uint64_t, sd_bus_error *, sd_bus_message **);
    void (*error_free)(sd_bus_error *);
    sd_bus_message *(*message_unref)(sd_bus_message *);
    sd_bus *(*flush_close_unref)(sd_bus *);
} bus;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_failure[256];

static void load(void)
{
    const struct lbox_dl_symbol want[] = {
        {"sd_bus_open_user", (void **)&bus.open_user},
        {"sd_bus_message_new_method_call", (void **)&bus.new_method_call},
        {"sd_bus_message_append", (void **)&bus.append},
        {"sd_bus_call", (void **)&bus.call},
        {"sd_bus_error_free", (void **)&bus.error_free},
        {"sd_bus_message_unref", (void **)&bus.message_unref},
        {"sd_bus_flush_close_unref", (void **)&bus.flush_close_unref},
    };
    loaded = lbox_dl_load(LIBSYSTEMD_SONAME, want, sizeof want / sizeof want[0], load_failure,
                          sizeof load_failure) == 0;
}

bool lbox_systemd_user_bus_present(void)
{
    if (getenv("DBUS_SESSION_BUS_ADDRESS"))
        return true;
    const char *run = getenv("XDG_RUNTIME_DIR");
    char path[PATH_MAX];
    if (!run || snprintf(path, sizeof path, "%s/bus", run) >= (int)sizeof path)
        return false;
    return access(path, F_OK) == 0;
}

/* Our line of /proc/self/cgroup changes once the manager has run the scope's start job
 * (it is queued when the call returns, and runs at once). */
static bool moved_from(const char *before)
{
    char now[1024];
    for (int i = 0; i < 400; i++) { /* 2 s */
        if (lbox_read_text("/proc/self/cgroup", now, sizeof now) == 0 && strcmp(now, before))
            return true;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return false;
}

int lbox_systemd_scope_enter(char *why, size_t whylen)
{
    pthread_once(&once, load);
    if (!loaded) {
        snprintf(why, whylen, "cannot load libsystemd: %s", load_failure);
        return -1;
    }
    char before[1024];
    if (lbox_read_text("/proc/self/cgroup", before, sizeof before) < 0) {
        snprintf(why, whylen, "reading /proc/self/cgroup: %s", strerror(errno));
        return -1;
    }
    sd_bus *b = NULL;
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int rc = -1, r = bus.open_user(&b);
    if (r < 0) {
        snprintf(why, whylen, "connecting to the user's bus: %s", strerror(-r));
        goto out;
    }
    /* Unique while we live, and again after: the time tells apart a pid used twice. */
    char unit[96];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(unit, sizeof unit, "lbox-%d-%" PRIx64 ".scope", (int)getpid(),
             (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec);
    r = bus.new_method_call(b, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                            "org.freedesktop.systemd1.Manager", "StartTransientUnit");
    if (r >= 0)
        /* The scope goes away with its last process: CollectMode lets a failed one go too. */
        r = bus.append(m, "ssa(sv)a(sa(sv))", unit, "fail", 4,
                       "Description", "s", "lbox: the memory cgroup of lbox's sandboxes",
                       "PIDs", "au", 1, (uint32_t)getpid(),
                       "Delegate", "b", 1,
                       "CollectMode", "s", "inactive-or-failed", 0);
    if (r < 0) {
        snprintf(why, whylen, "building the StartTransientUnit call: %s", strerror(-r));
        goto out;
    }
    r = bus.call(b, m, 5 * 1000 * 1000, &error, &reply);
    if (r < 0) {
        snprintf(why, whylen, "systemd's StartTransientUnit(%s): %s", unit,
                 error.message ? error.message : strerror(-r));
        goto out;
    }
    if (!moved_from(before)) {
        snprintf(why, whylen, "systemd started %s but did not move lbox into it within 2 s",
                 unit);
        goto out;
    }
    rc = 0;
out:
    bus.error_free(&error);
    if (reply)
        bus.message_unref(reply);
    if (m)
        bus.message_unref(m);
    if (b)
        bus.flush_close_unref(b);
    return rc;
}
