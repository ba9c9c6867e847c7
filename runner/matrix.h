/* `lbox matrix`: one event through a function in every runtime × architecture, to see that it
 * behaves the same everywhere (foreign architectures run through QEMU).
 *
 * Each combination is built into the store under the default tag
 * (<code name>:<runtime>-<arch>; cached layers make an unchanged one cheap), then runs the
 * event once, cold, in a fresh environment. Runs happen in forked worker processes, up to
 * `jobs` at a time: each worker owns its sandbox from its main thread (as the sandbox
 * requires) and a crash in one cannot take the others down. Responses are compared after
 * JSON normalisation (sorted keys, compact); the reference is the response most
 * combinations gave (the first of the tied ones), and every other one "differs". */
#ifndef LBOX_RUNNER_MATRIX_H
#define LBOX_RUNNER_MATRIX_H

#include <stdbool.h>
#include <stddef.h>

#include "builder/build.h"
#include "common/error.h"

enum lbox_matrix_status {
    LBOX_MATRIX_OK,
    LBOX_MATRIX_FUNCTION_ERROR,  /* the function threw or returned an error */
    LBOX_MATRIX_TIMEOUT,
    LBOX_MATRIX_BUILD_FAILED,    /* error says why */
    LBOX_MATRIX_RUN_FAILED,      /* lbox could not run it (sandbox, QEMU); error says why */
};

const char *lbox_matrix_status_name(enum lbox_matrix_status s);

struct lbox_matrix_cell {
    char *runtime, *arch;        /* canonical names */
    char *ref;                   /* the image it built (its tag) */
    char digest[72];             /* ...and its manifest digest, which the run resolves: a
                                  * build of the same tag meanwhile cannot swap the code */
    enum lbox_matrix_status status;
    char *response;              /* raw payload (NUL-terminated), NULL if it did not run */
    char *normalized;            /* what was compared: sorted compact JSON, else the raw bytes */
    char *error;                 /* build/run failure message, else NULL */
    char *log_tail;              /* last bytes of the function's output (for failures) */
    double duration_ms;
    double init_duration_ms;     /* < 0 when unknown */
    unsigned max_memory_mb;
    bool differs;                /* response differs from the reference */
};

struct lbox_matrix_opts {
    const char *code;                    /* directory or .zip */
    const char *handler;                 /* NULL = index.handler */
    const char *const *runtimes;
    size_t nruntimes;
    const char *const *arches;
    size_t narches;
    const char *event;                   /* the event JSON bytes */
    size_t event_len;
    unsigned timeout_s;                  /* 1..900 */
    unsigned memory_mb;                  /* 128..10240 */
    unsigned jobs;                       /* parallel runs; 0 = the number of cores */
    const struct lbox_build_opts *build; /* mirrors, node source, registry; code/runtime/arch/
                                            tag are set per combination; NULL = defaults */
    /* Called before each build and after each run (progress lines); may be NULL. */
    void (*progress)(void *ctx, const struct lbox_matrix_cell *c, const char *what);
    void *progress_ctx;
};

/* Builds and runs every combination into *cells (nruntimes × narches, runtime-major).
 * A failing combination is a cell status, not an error: -1 means lbox itself failed
 * (no workers, store unusable). */
int lbox_matrix_run(struct lbox_fetcher *f, const struct lbox_matrix_opts *o,
                    struct lbox_matrix_cell **cells, size_t *ncells, struct lbox_error *err);

/* True when every cell ran OK with the reference response. */
bool lbox_matrix_all_equal(const struct lbox_matrix_cell *cells, size_t n);
/* Index of the reference cell, or -1 when no cell has a response. */
long lbox_matrix_reference(const struct lbox_matrix_cell *cells, size_t n);

void lbox_matrix_cells_free(struct lbox_matrix_cell *cells, size_t n);

#endif
