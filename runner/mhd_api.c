#include "mhd_api.h"

#include <pthread.h>

#include "common/dl.h"

#define LIBMICROHTTPD_SONAME "libmicrohttpd.so.12"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct lbox_mhd_api api;
static const struct lbox_mhd_api *loaded;
static char failure[512];

static void load(void)
{
    const struct lbox_dl_symbol want[] = {
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
    if (lbox_dl_load(LIBMICROHTTPD_SONAME, want, sizeof want / sizeof want[0], failure,
                     sizeof failure) == 0)
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
