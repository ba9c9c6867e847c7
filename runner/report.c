#include "report.h"

#include <ctype.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "common/fsutil.h"

char *lbox_report_start(const char *request_id, const char *version)
{
    return lbox_strdupf("START RequestId: %s Version: %s\n", request_id,
                        version ? version : "$LATEST");
}

char *lbox_report_init_start(const char *runtime_version, const char *runtime_version_arn)
{
    return lbox_strdupf("INIT_START Runtime Version: %s\tRuntime Version ARN: %s\n",
                        runtime_version, runtime_version_arn);
}

char *lbox_report_end(const char *request_id)
{
    return lbox_strdupf("END RequestId: %s\n", request_id);
}

uint64_t lbox_billed_ms(double duration_ms)
{
    if (duration_ms <= 0)
        return 1;
    uint64_t whole = (uint64_t)duration_ms;
    return (double)whole < duration_ms ? whole + 1 : whole;
}

unsigned lbox_memory_used_mb(uint64_t bytes)
{
    if (!bytes)
        return 0;
    return (unsigned)((bytes + (1u << 20) - 1) >> 20);
}

char *lbox_report_line(const struct lbox_report *r)
{
    char init[64] = "", status[128] = "";
    /* Lambda puts Init Duration after Max Memory Used, and ends the line with a tab; when the
     * environment failed, Status (and Error Type) follow, with no tab after them. */
    if (r->init_duration_ms >= 0)
        snprintf(init, sizeof init, "Init Duration: %.2f ms\t", r->init_duration_ms);
    if (r->status && r->error_type)
        snprintf(status, sizeof status, "Status: %s\tError Type: %.80s", r->status,
                 r->error_type);
    else if (r->status)
        snprintf(status, sizeof status, "Status: %s", r->status);
    uint64_t billed = lbox_report_billed_ms(r);
    return lbox_strdupf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %llu ms\t"
                        "Memory Size: %u MB\tMax Memory Used: %u MB\t%s%s\n",
                        r->request_id, r->duration_ms,
                        (unsigned long long)billed, r->memory_mb,
                        lbox_memory_used_mb(r->max_memory_bytes), init, status);
}

/* A timed-out invoke runs a little past its timeout before it is stopped; Lambda bills the
 * timeout (Duration 3071.27 ms, Billed Duration 3000 ms in a real log). */
uint64_t lbox_report_billed_ms(const struct lbox_report *r)
{
    uint64_t billed = lbox_billed_ms(r->duration_ms);
    return r->billed_cap_ms && billed > r->billed_cap_ms ? r->billed_cap_ms : billed;
}

char *lbox_report_init_line(double ms, const char *phase, const char *status,
                            const char *error_type)
{
    return lbox_strdupf("INIT_REPORT Init Duration: %.2f ms\tPhase: %s\tStatus: %s%s%.80s\n",
                        ms, phase, status, error_type ? "\tError Type: " : "",
                        error_type ? error_type : "");
}

/* RAPID's test, unanchored: "Runtime." or "Function.", an upper-case letter, then at
 * least one more letter. */
static bool names_a_type(const char *s)
{
    for (const char *p = s; (p = strpbrk(p, "RF")); p++) {
        const char *rest = !strncmp(p, "Runtime.", 8) ? p + 8
                           : !strncmp(p, "Function.", 9) ? p + 9 : NULL;
        if (rest && isupper((unsigned char)rest[0]) && isalpha((unsigned char)rest[1]))
            return true;
    }
    return false;
}

const char *lbox_platform_error_type(const char *posted)
{
    if (posted && names_a_type(posted))
        return posted;
    return posted && !strncmp(posted, "Function.", 9) ? "Function.Unknown" : "Runtime.Unknown";
}

char *lbox_report_timeout_line(const char *request_id, double seconds)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    return lbox_strdupf("%s.%03ldZ %s Task timed out after %.2f seconds\n", ts,
                        (long)(tv.tv_usec / 1000), request_id, seconds);
}

/* Go's names for signals, as Lambda's platform prints them. */
static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGKILL: return "killed";
    case SIGSEGV: return "segmentation fault";
    case SIGABRT: return "aborted";
    case SIGTERM: return "terminated";
    case SIGBUS: return "bus error";
    case SIGILL: return "illegal instruction";
    case SIGFPE: return "floating point exception";
    case SIGINT: return "interrupt";
    case SIGHUP: return "hangup";
    case SIGPIPE: return "broken pipe";
    case SIGTRAP: return "trace/breakpoint trap";
    case SIGSYS: return "bad system call";
    case SIGXCPU: return "CPU time limit exceeded";
    case SIGXFSZ: return "file size limit exceeded";
    case SIGUSR1: return "user defined signal 1";
    case SIGUSR2: return "user defined signal 2";
    default: return NULL;
    }
}

void lbox_describe_exit(int wstatus, char *out, size_t size)
{
    if (WIFEXITED(wstatus)) {
        snprintf(out, size, "exit status %d", WEXITSTATUS(wstatus));
    } else if (WIFSIGNALED(wstatus)) {
        const char *n = signal_name(WTERMSIG(wstatus));
        if (n)
            snprintf(out, size, "signal: %s", n);
        else
            snprintf(out, size, "signal: signal %d", WTERMSIG(wstatus));
    } else {
        snprintf(out, size, "unknown status %d", wstatus);
    }
}

double lbox_report_shown_ms(double ms)
{
    char text[64];
    snprintf(text, sizeof text, "%.2f", ms);
    return strtod(text, NULL);
}
