/* Lambda's platform log lines, byte for byte: INIT_START, START, END, REPORT (reference
 * §4.8), and the messages for a timeout and a runtime that exited. */
#ifndef LBOX_RUNNER_REPORT_H
#define LBOX_RUNNER_REPORT_H

#include <stddef.h>
#include <stdint.h>

struct lbox_report {
    const char *request_id;
    double duration_ms;
    unsigned memory_mb;       /* configured */
    uint64_t max_memory_bytes;/* measured peak; 0 when it could not be measured */
    double init_duration_ms;  /* < 0: not a cold start, no Init Duration field */
    const char *status;       /* NULL, or "timeout" / "error": the environment failed */
    const char *error_type;   /* with status "error": what failed (Runtime.ExitError...) */
    uint64_t billed_cap_ms;   /* > 0: the timeout, past which nothing is billed */
};

/* Each returns a malloc'd line ending in '\n'. */
/* Where a new environment's init phase begins, before anything of the function's (Lambda's
 * docs, "Identifying Lambda runtime version changes"). */
char *lbox_report_init_start(const char *runtime_version, const char *runtime_version_arn);
char *lbox_report_start(const char *request_id, const char *version);
char *lbox_report_end(const char *request_id);
char *lbox_report_line(const struct lbox_report *r);
/* The report's Billed Duration (the Telemetry API's billedDurationMs too). */
uint64_t lbox_report_billed_ms(const struct lbox_report *r);
/* A failed init: "INIT_REPORT Init Duration: N.NN ms\tPhase: init|invoke\tStatus:
 * error|timeout[\tError Type: T]\n". Phase init is the environment's first init; invoke,
 * its retry inside an invoke (error_type NULL for a timeout). */
char *lbox_report_init_line(double ms, const char *phase, const char *status,
                            const char *error_type);
/* The type Lambda reports for an error a runtime posted (RAPID keeps a "Runtime.X" or
 * "Function.X" type and calls any other Runtime.Unknown, or Function.Unknown); a pointer
 * into `posted` or a static string. */
const char *lbox_platform_error_type(const char *posted);
/* "<ISO time> <id> Task timed out after 3.00 seconds\n" */
char *lbox_report_timeout_line(const char *request_id, double seconds);

/* A duration as the REPORT line shows it (to the hundredth of a millisecond, "%.2f"), for
 * figures that must read the same elsewhere (the Logs API's platform.report). */
double lbox_report_shown_ms(double ms);
/* Billed duration: whole milliseconds, rounded up (Lambda's 1 ms granularity). */
uint64_t lbox_billed_ms(double duration_ms);
/* Max Memory Used in MB, rounded up; at least 1 when anything was measured. */
unsigned lbox_memory_used_mb(uint64_t bytes);

/* "exit status 3", "signal: killed" — the way Lambda names how a runtime ended (Go's
 * wording). out holds 64 bytes. */
void lbox_describe_exit(int wstatus, char *out, size_t size);

#endif
