#include "mhd_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define LIBMICROHTTPD_SONAME "libmicrohttpd.so.12"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct lbox_mhd_api api;
static const struct lbox_mhd_api *loaded;
static char failure[512];

static void load(void)
{
    void *h = dlopen(LIBMICROHTTPD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(failure, sizeof failure, "%s", dlerror());
        return;
    }
    /* POSIX (dlsym) guarantees that a function's address survives the trip through void *. */
    struct {
        const char *name;
        void **slot;
    } want[] = {
        {"MHD_start_daemon", (void **)&api.start_daemon},
        {"MHD_stop_daemon", (void **)&api.stop_daemon},
        {"MHD_create_response_from_buffer", (void **)&api.create_response_from_buffer},
        {"MHD_add_response_header", (void **)&api.add_response_header},
        {"MHD_queue_response", (void **)&api.queue_response},
        {"MHD_destroy_response", (void **)&api.destroy_response},
        {"MHD_lookup_connection_value", (void **)&api.lookup_connection_value},
        {"MHD_suspend_connection", (void **)&api.suspend_connection},
        {"MHD_resume_connection", (void **)&api.resume_connection},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!(*want[i].slot = dlsym(h, want[i].name))) {
            snprintf(failure, sizeof failure, "%s has no %s", LIBMICROHTTPD_SONAME,
                     want[i].name);
            return;
        }
    loaded = &api; /* the library stays loaded: daemons may outlive any caller */
}

static void *load_in_background(void *unused)
{
    (void)unused;
    pthread_once(&once, load);
    return NULL;
}

void lbox_mhd_preload(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, load_in_background, NULL) == 0)
        pthread_detach(t);
}

const struct lbox_mhd_api *lbox_mhd_api(struct lbox_error *err)
{
    pthread_once(&once, load);
    if (!loaded)
        lbox_err(err, LBOX_E_SYS,
                 "cannot load libmicrohttpd, which serves each environment's Runtime API: %s "
                 "(install the libmicrohttpd12 package: scripts/install-deps.sh)",
                 failure);
    return loaded;
}
