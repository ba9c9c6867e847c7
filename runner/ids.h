/* Random identifiers the platform hands out: request ids, extension ids, X-Ray trace ids. */
#ifndef LBOX_RUNNER_IDS_H
#define LBOX_RUNNER_IDS_H

#include <stddef.h>

/* A random (version 4) UUID in text form; out holds 37 bytes. */
void lbox_uuid4(char out[37]);

/* An X-Ray trace header "Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=0"; out >= 80. */
void lbox_trace_id(char *out, size_t size);

/* n random bytes as 2n lowercase hex digits (out holds 2n+1). */
void lbox_random_hex(char *out, size_t n);

#endif
