/* The environment's one log: the function's stdout and stderr (one pipe), the runtime's
 * console records (its telemetry fd), the extensions' output (one pipe) and the platform
 * lines, never inside each other's lines; and the same lines for the Telemetry API. */
#include "env_internal.h"
#include "telemetry.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every write to the log: a source that takes over from another one that left a line
 * open starts a new line, so that output of one never lands inside a line of the other. */
static void log_from(struct lbox_env *env, int src, const char *data, size_t len)
{
    if (len == 0 || !env->cfg.log)
        return;
    if (env->log_mid_line && env->log_src != src)
        env->cfg.log(env->cfg.log_ctx, "\n", 1);
    env->cfg.log(env->cfg.log_ctx, data, len);
    env->log_src = src;
    env->log_mid_line = data[len - 1] != '\n';
}

/* Source 1 stdout, 2 the runtime's console records, 3 the extensions' output. */
static enum lbox_telemetry_source source_of(int src)
{
    return src == 3 ? LBOX_TELEMETRY_EXTENSION : LBOX_TELEMETRY_FUNCTION;
}

/* The Telemetry API gets the output as Lambda's records: a console record whole, however
 * many lines it has (its frame on the telemetry pipe ends it: env_console_record_end), and
 * anything else line by line (stdout, the extensions', a telemetry pipe whose framing
 * broke). A record longer than LBOX_LOG_LINE_MAX goes in pieces of that size. */
static void to_telemetry(struct lbox_env *env, int src, const char *data, size_t len)
{
    if (!lbox_telemetry_wanted(env->telemetry))
        return;
    struct tele_line *tl = &env->tele_lines[src - 1];
    bool by_record = src == 2 && !env->tele.unframed;
    /* The stream's newline ahead of a frame is not part of the record. */
    if (by_record && tl->len == 0 && len && data[0] == '\n') {
        data++;
        len--;
    }
    while (len) {
        const char *nl = by_record ? NULL : memchr(data, '\n', len);
        size_t k = nl ? (size_t)(nl - data) : len;
        if (!tl->buf)
            tl->buf = lbox_xmalloc(LBOX_LOG_LINE_MAX);
        size_t room = LBOX_LOG_LINE_MAX - tl->len, take = k < room ? k : room;
        memcpy(tl->buf + tl->len, data, take);
        tl->len += take;
        bool line_end = nl && take == k;
        if (line_end || tl->len == LBOX_LOG_LINE_MAX) {
            lbox_telemetry_log(env->telemetry, source_of(src), tl->buf, tl->len);
            tl->len = 0;
        }
        size_t used = take + (line_end ? 1 : 0);
        data += used;
        len -= used;
    }
}

void env_console_record_end(void *ctx)
{
    struct lbox_env *env = ctx;
    struct tele_line *tl = &env->tele_lines[1];
    if (tl->len && tl->buf[tl->len - 1] == '\n')
        tl->len--; /* the stream's, or the text record's own */
    if (tl->len && lbox_telemetry_wanted(env->telemetry))
        lbox_telemetry_log(env->telemetry, LBOX_TELEMETRY_FUNCTION, tl->buf, tl->len);
    tl->len = 0;
}

void env_log_from_stdout(void *ctx, const char *data, size_t len)
{
    log_from(ctx, 1, data, len);
    to_telemetry(ctx, 1, data, len);
}

void env_log_from_telemetry(void *ctx, const char *data, size_t len)
{
    log_from(ctx, 2, data, len);
    to_telemetry(ctx, 2, data, len);
}

void env_log_from_extensions(void *ctx, const char *data, size_t len)
{
    log_from(ctx, 3, data, len);
    to_telemetry(ctx, 3, data, len);
}

/* Passes on the streams' unfinished lines and ends the log's line, if open. */
void env_end_log_line(struct lbox_env *env)
{
    lbox_log_stream_flush(&env->out);
    lbox_log_stream_flush(&env->tele);
    lbox_log_stream_flush(&env->ext_out);
    if (env->log_mid_line)
        log_from(env, env->log_src, "\n", 1);
}

/* A platform line (START, END, REPORT, ...) starts a line of its own. */
void env_emit(struct lbox_env *env, char *line)
{
    env_end_log_line(env);
    log_from(env, 0, line, strlen(line));
    free(line);
}

/* Reads what one pipe holds, up to 4 MB; true if it held anything. */
static bool drain_pipe(int fd, struct lbox_log_stream *ls)
{
    char buf[65536];
    bool any = false;
    for (int i = 0; fd >= 0 && i < 64; i++) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break; /* EAGAIN: all read */
        lbox_log_stream_feed(ls, buf, (size_t)n);
        any = true;
    }
    return any;
}

/* Passes on the function's output. The console records come first: the runtime wrote them
 * before it answered, so they belong before END; a record cut by the 4 MB bound gets a
 * moment to finish before stdout has its turn (never more: a fake header on fd 3 must not
 * stop stdout). Bounded, so a function that never stops writing cannot keep the runner
 * from looking at its deadline. */
bool env_drain_logs(struct lbox_env *env)
{
    bool any = drain_pipe(env->tele_rd, &env->tele);
    for (int i = 0; i < 4 && lbox_log_stream_mid_record(&env->tele); i++) {
        struct pollfd p = {.fd = env->tele_rd, .events = POLLIN};
        if (poll(&p, 1, 5) <= 0) /* the runtime writes header and message back to back */
            break;
        any |= drain_pipe(env->tele_rd, &env->tele);
    }
    if (drain_pipe(env->log_rd, &env->out)) {
        env->out_seen_ns = now_ns();
        any = true;
    }
    any |= drain_pipe(env->ext_rd, &env->ext_out);
    return any;
}
