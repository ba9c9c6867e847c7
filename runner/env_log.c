/* The environment's one log: the function's stdout and stderr (one pipe), the runtime's
 * console records (its telemetry fd), the extensions' output (one pipe) and the platform
 * lines, never inside each other's lines; and the same output for the Telemetry and Logs
 * APIs, as events of a line or a whole console record each. */
#include "env_internal.h"
#include "telemetry.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every write to the log: a source that takes over from another one that left a line
 * open starts a new line, so that output of one never lands inside a line of the other. */
static void log_from(struct lbox_env *env, enum log_source src, const char *data, size_t len)
{
    if (len == 0 || !env->cfg.log)
        return;
    if (env->log_mid_line && env->log_src != src)
        env->cfg.log(env->cfg.log_ctx, "\n", 1);
    env->cfg.log(env->cfg.log_ctx, data, len);
    env->log_src = src;
    env->log_mid_line = data[len - 1] != '\n';
}

static enum lbox_telemetry_source telemetry_source(enum log_source src)
{
    return src == SRC_EXTENSIONS ? LBOX_TELEMETRY_EXTENSION : LBOX_TELEMETRY_FUNCTION;
}

static struct tele_line *collected(struct lbox_env *env, enum log_source src)
{
    return &env->tele_lines[src - SRC_STDOUT];
}

/* What a source collected for the Telemetry and Logs APIs goes out as one event: a whole
 * line or record (last), or a piece of one longer than LBOX_LOG_LINE_MAX. */
static void send_collected(struct lbox_env *env, enum log_source src, bool last)
{
    struct tele_line *tl = collected(env, src);
    lbox_telemetry_log_piece(env->telemetry, telemetry_source(src), tl->buf, tl->len, last);
    tl->len = 0;
    tl->pieces_sent = !last;
}

/* Adds to what src collected. A full buffer goes out as a piece only when more comes, so
 * that the last piece of a line or record is known to be the last. */
static void add(struct lbox_env *env, enum log_source src, const char *data, size_t len)
{
    struct tele_line *tl = collected(env, src);
    if (!tl->buf)
        tl->buf = lbox_xmalloc(LBOX_LOG_LINE_MAX);
    while (len) {
        if (tl->len == LBOX_LOG_LINE_MAX)
            send_collected(env, src, false);
        size_t take = LBOX_LOG_LINE_MAX - tl->len < len ? LBOX_LOG_LINE_MAX - tl->len : len;
        memcpy(tl->buf + tl->len, data, take);
        tl->len += take;
        data += take;
        len -= take;
    }
}

/* Output that goes line by line (stdout, the extensions', console output whose framing
 * broke): each newline ends an event. */
static void collect_lines(struct lbox_env *env, enum log_source src, const char *data,
                          size_t len)
{
    if (!lbox_telemetry_wanted(env->telemetry))
        return;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t k = nl ? (size_t)(nl - data) : len;
        add(env, src, data, k);
        if (!nl)
            return;
        send_collected(env, src, true);
        data += k + 1;
        len -= k + 1;
    }
}

/* A line left open goes out as it is: a platform line follows, or the stream ends. */
static void send_open_line(struct lbox_env *env, enum log_source src)
{
    struct tele_line *tl = collected(env, src);
    if ((tl->len || tl->pieces_sent) && lbox_telemetry_wanted(env->telemetry))
        send_collected(env, src, true);
    tl->len = 0;
    tl->pieces_sent = false;
}

/* A console record goes out whole, however many lines it has, as Lambda sends it; its
 * last newline is not part of it, so a newline at the end of what came so far is held
 * back until more of the record comes. */
void env_console_record_data(void *ctx, const char *data, size_t len)
{
    struct lbox_env *env = ctx;
    struct tele_line *tl = collected(env, SRC_CONSOLE);
    if (len == 0 || !lbox_telemetry_wanted(env->telemetry))
        return;
    if (tl->held_newline)
        add(env, SRC_CONSOLE, "\n", 1);
    tl->held_newline = data[len - 1] == '\n';
    add(env, SRC_CONSOLE, data, len - tl->held_newline);
}

void env_console_record_end(void *ctx)
{
    struct lbox_env *env = ctx;
    collected(env, SRC_CONSOLE)->held_newline = false;
    send_open_line(env, SRC_CONSOLE);
}

void env_log_from_stdout(void *ctx, const char *data, size_t len)
{
    log_from(ctx, SRC_STDOUT, data, len);
    collect_lines(ctx, SRC_STDOUT, data, len);
}

/* The console records' stream: its records reach the APIs through env_console_record_data,
 * and only what broke its framing comes here for them. */
void env_log_from_telemetry(void *ctx, const char *data, size_t len)
{
    struct lbox_env *env = ctx;
    log_from(env, SRC_CONSOLE, data, len);
    if (env->tele.unframed)
        collect_lines(env, SRC_CONSOLE, data, len);
}

void env_log_from_extensions(void *ctx, const char *data, size_t len)
{
    log_from(ctx, SRC_EXTENSIONS, data, len);
    collect_lines(ctx, SRC_EXTENSIONS, data, len);
}

/* Passes on the streams' unfinished lines and ends the log's line, if open; so do the
 * events (a record being framed is not a line: it ends with its frame). */
void env_end_log_line(struct lbox_env *env)
{
    lbox_log_stream_flush(&env->out);
    lbox_log_stream_flush(&env->tele);
    lbox_log_stream_flush(&env->ext_out);
    send_open_line(env, SRC_STDOUT);
    send_open_line(env, SRC_EXTENSIONS);
    if (env->tele.unframed)
        send_open_line(env, SRC_CONSOLE);
    if (env->log_mid_line)
        log_from(env, env->log_src, "\n", 1);
}

/* A platform line (START, END, REPORT, ...) starts a line of its own. */
void env_emit(struct lbox_env *env, char *line)
{
    env_end_log_line(env);
    log_from(env, SRC_PLATFORM, line, strlen(line));
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
