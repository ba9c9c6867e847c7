/* Where `lbox invoke` gets its events and environment: event files (one JSON document, or
 * JSON lines: one event per line), stdin ("-"), and SAM-style env files. Events stay the
 * bytes the user wrote; they are checked to be JSON and within Lambda's 6 MB request limit
 * before anything starts. */
#ifndef LBOX_RUNNER_EVENT_INPUT_H
#define LBOX_RUNNER_EVENT_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "env_vars.h"

struct lbox_event {
    const char *data; /* NUL-terminated; owned by the lbox_events */
    size_t len;
    const char *source; /* "e.json", "stdin", "(default)": see lbox_event_origin */
    int line;           /* its line in a JSON-lines source; 0 for a whole document */
};

struct lbox_events {
    struct lbox_event *v;
    size_t n, cap;
    char **owned; /* the texts and names the events point into */
    size_t nowned;
    bool read_stdin; /* "-" was read: it can be read once */
};

/* An event file (or stdin) may hold many events, each within Lambda's limit, but lbox reads
 * it whole: past this size it stops reading and refuses the file. */
#define LBOX_MAX_EVENT_FILE_BYTES (256u << 20)
/* Events per call: each costs lbox a few dozen bytes before the first invoke, and a file
 * of 256 MiB of "1" lines would hold 134 million of them. */
#define LBOX_MAX_EVENTS 1000000u

/* Adds the event(s) in path ("-" = stdin): one JSON document, else JSON lines when the
 * first non-blank line is a JSON value by itself (a bad line is named); else the document's
 * own error, with its line and column. Any valid JSON passes, as on Lambda, including what
 * jansson cannot hold (\u0000, 1e400, integers beyond 64 bits, lone surrogates). */
int lbox_events_add_file(struct lbox_events *evs, const char *path, struct lbox_error *err);
/* Adds one event from memory (checked like a file's). */
int lbox_events_add_buffer(struct lbox_events *evs, const char *data, size_t len,
                           const char *origin, struct lbox_error *err);
void lbox_events_free(struct lbox_events *evs);
/* Names an event for messages: "e.json", "events.jsonl line 3", "stdin". */
void lbox_event_origin(const struct lbox_event *e, char *buf, size_t size);

/* Loads a SAM env file into *user: {"Parameters": {...}} applies to every function,
 * {"<FunctionName>": {...}} to that function (and wins); a flat {"K": "V"} object is taken
 * as is. In SAM's form every top-level value must be an object (SAM refuses the file
 * otherwise, and so does this). Values become the text `sam local invoke --env-vars` gives
 * them: strings as they are, numbers as Python's str() writes them (8080.0, 1e+16),
 * true/false, and "" for null, objects and arrays. A file over LBOX_MAX_ENV_FILE_BYTES is
 * refused unread. *note (when note is not NULL): a malloc'd warning when a SAM-form file has
 * nothing for function_name (neither "Parameters" nor its name), naming what it has, else
 * NULL. */
#define LBOX_MAX_ENV_FILE_BYTES (1u << 20)
int lbox_env_file_load(const char *path, const char *function_name, struct lbox_strv *user,
                       char **note, struct lbox_error *err);

#endif
