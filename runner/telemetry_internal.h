/* What the Telemetry and Logs APIs' files share (telemetry.c: events, queues, one delivery
 * thread per subscriber; telemetry_subscribe.c: a subscription checked as Lambda checks it).
 * Not part of the runner's public interface. */
#ifndef LBOX_RUNNER_TELEMETRY_INTERNAL_H
#define LBOX_RUNNER_TELEMETRY_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry.h"

/* The event categories a subscription names in "types", for each API: the two APIs'
 * events differ, so each event is made for one of them, and a subscriber takes the
 * categories of its own API only. A Logs API subscriber of schema 2021-03-18 also takes
 * platform.runtimeDone, which the older schema does not have. */
enum {
    CAT_PLATFORM = 1, CAT_FUNCTION = 2, CAT_EXTENSION = 4,                /* Telemetry API */
    CAT_LOGS_PLATFORM = 8, CAT_LOGS_FUNCTION = 16, CAT_LOGS_EXTENSION = 32, /* Logs API */
    CAT_LOGS_RUNTIME_DONE = 64,
};
#define CATS_OF_TELEMETRY (CAT_PLATFORM | CAT_FUNCTION | CAT_EXTENSION)
#define CATS_OF_LOGS (CAT_LOGS_PLATFORM | CAT_LOGS_FUNCTION | CAT_LOGS_EXTENSION | \
                      CAT_LOGS_RUNTIME_DONE)

/* Extensions are at most ten, each one subscription. */
#define MAX_SUBSCRIBERS 10
/* Events kept for subscribers to come during the init phase, for each API (each has its
 * own form of them). */
#define KEPT_MAX_EVENTS 1000
#define KEPT_MAX_BYTES (1u << 20)
/* A listener that does not take a batch within this loses it; one that does not accept a
 * TCP connection within CONNECT_TIMEOUT_MS is not subscribed. */
#define POST_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 1000

struct event {
    char *json; /* {"time":...,"type":...,"record":...} */
    size_t len;
    unsigned cat;
};

/* One subscription, and the thread that delivers its batches one after the other, so that a
 * listener that is slow holds up only its own. */
struct subscriber {
    struct lbox_telemetry *t;
    char name[64];
    enum lbox_telemetry_api api;
    unsigned cats;
    unsigned max_items;
    size_t max_bytes;
    int timeout_ms;
    /* HTTP: the listener's URL, its host made 127.0.0.1, and the Host header naming it as
     * the extension did. TCP: a connection made at the subscription, as Lambda makes it;
     * the subscriber owns it and closes it when it ends (-1 once a send failed: Lambda does
     * not connect again). */
    char *url, *host_header;
    bool put; /* a Logs API listener that asked for PUT rather than POST */
    bool tcp;
    int tcp_fd;
    struct event *q; /* queued, oldest first */
    size_t n, cap, bytes;
    int64_t first_ns; /* when the oldest queued event came */
    /* Lost since its last batch, told in a platform.logsDropped ahead of the next. */
    size_t dropped_records, dropped_bytes;
    char drop_reason[300];
    bool quit;        /* asked to end: unsubscribed, or the telemetry is freed */
    bool busy;        /* a batch is on its way */
    pthread_t thread;
    bool started;
};

struct lbox_telemetry {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the delivery threads: something to do */
    pthread_cond_t idle; /* flushers: a delivery ended */
    lbox_telemetry_socket_fn socket_fn;
    void *socket_ctx;
    struct subscriber *subs[MAX_SUBSCRIBERS];
    size_t nsubs;
    struct event kept[2 * KEPT_MAX_EVENTS];
    size_t nkept;
    size_t kept_count[2], kept_bytes[2]; /* of each API's events (0 Telemetry, 1 Logs) */
    bool keeping;    /* the init phase is not over and the image has extensions */
    bool closed;     /* subscriptions are closed (the init phase is over) */
    bool flushing;
    bool json_logs;  /* the function logs as JSON (AWS_LAMBDA_LOG_FORMAT=JSON) */
};

/* {"time", "type", "record"} as compact JSON; takes the record over. */
char *telemetry_event_text(const char *type, json_t *record);
/* Adds a subscriber (its thread starts), or replaces the one of the same name (*again:
 * what was queued for it is kept). Returns -1 when all slots are taken, -2 when the
 * extension subscribed with the other API. */
int telemetry_add(struct lbox_telemetry *t, struct subscriber *s, bool *again);
/* Publishes a platform event already made into text (taken over). */
void telemetry_publish(struct lbox_telemetry *t, char *json, unsigned cat);
/* Whether subscriptions are closed (the init phase is over). */
bool telemetry_closed(struct lbox_telemetry *t);
/* Frees a subscriber whose thread has ended (or never started). */
void telemetry_subscriber_free(struct subscriber *s);

#endif
