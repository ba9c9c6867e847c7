/* libmicrohttpd, loaded when the Runtime API is first served rather than when lbox starts.
 *
 * Linked, libmicrohttpd brings GnuTLS and seven more libraries, whose loading and
 * constructors cost every lbox command about 2 ms, `lbox build` and `lbox images`
 * included, though only an environment's Runtime API needs it. lbox_mhd_preload starts
 * the loading on a background thread (an invoke calls it first thing, so it overlaps with
 * reading the event and setting up the sandbox); lbox_mhd_api waits for it, or loads it
 * there if nobody asked earlier. */
#ifndef LBOX_RUNNER_MHD_API_H
#define LBOX_RUNNER_MHD_API_H

#include <microhttpd.h>

#include "common/error.h"

/* The libmicrohttpd calls runtime_api.c makes, named as in the library without MHD_. */
struct lbox_mhd_api {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status,
                                      struct MHD_Response *response);
    void (*destroy_response)(struct MHD_Response *response);
    const char *(*lookup_connection_value)(struct MHD_Connection *connection,
                                           enum MHD_ValueKind kind, const char *key);
    void (*suspend_connection)(struct MHD_Connection *connection);
    void (*resume_connection)(struct MHD_Connection *connection);
};

/* Starts loading the library in the background (optional; idempotent). */
void lbox_mhd_preload(void);

/* The loaded library's calls, waiting for a preload under way; NULL (and *err says why and
 * what to install) when it cannot be loaded. */
const struct lbox_mhd_api *lbox_mhd_api(struct lbox_error *err);

#endif
