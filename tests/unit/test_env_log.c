/* The function's output as the Telemetry and Logs APIs get it (runner/env_log.c): a line
 * of stdout, or a console record whole however many lines it has, each one event; long
 * ones in pieces; lines left open before a platform line, and output that broke the
 * console framing, as events of their own. A stand-in environment holds only the streams
 * and a telemetry with one subscriber of each API on this host's loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner/env_internal.h"
#include "runner/telemetry.h"
#include "ndjson_reader.h"

static int plain_socket(void *ctx)
{
    (void)ctx;
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

struct rig {
    struct lbox_env *env;
    int lfd;
    int conn[2]; /* the Telemetry API subscriber's connection, the Logs API one's */
};

static void subscribe(struct rig *r, enum lbox_telemetry_api api, const char *fields,
                      uint16_t port, int *conn)
{
    char body[512];
    snprintf(body, sizeof body, "{%s,\"types\":[\"function\"],\"buffering\":{\"timeoutMs\":"
             "30000},\"destination\":{\"protocol\":\"TCP\",\"port\":%u}}", fields, port);
    struct lbox_telemetry_answer a;
    lbox_telemetry_subscribe(r->env->telemetry, api, api == LBOX_LOGS_API ? "logs" : "tele",
                             body, strlen(body), &a);
    assert_int_equal(a.status, 200);
    free(a.body);
    *conn = accept(r->lfd, NULL, NULL);
    assert_true(*conn >= 0);
}

static void rig_up(struct rig *r)
{
    uint16_t port;
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(r->lfd, 4), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    r->env = calloc(1, sizeof *r->env);
    r->env->telemetry = lbox_telemetry_new(plain_socket, NULL, false);
    subscribe(r, LBOX_TELEMETRY_API, "\"schemaVersion\":\"2022-12-13\"", port, &r->conn[0]);
    subscribe(r, LBOX_LOGS_API, "\"schemaVersion\":\"2021-03-18\"", port, &r->conn[1]);
    lbox_log_stream_init(&r->env->out, LBOX_LOG_LINES, env_log_from_stdout, r->env);
    lbox_log_stream_init(&r->env->tele, LBOX_LOG_FRAMES, env_log_from_telemetry, r->env);
    lbox_log_stream_on_records(&r->env->tele, env_console_record_data, env_console_record_end);
}

/* The function records a subscriber got, as strings. */
static json_t *events_of(int fd)
{
    json_t *all = read_events_within(fd, SIZE_MAX, 300), *records = json_array(), *e;
    size_t i;
    json_array_foreach(all, i, e)
        if (!strcmp(json_string_value(json_object_get(e, "type")), "function"))
            json_array_append(records, json_object_get(e, "record"));
    json_decref(all);
    return records;
}

static void rig_down(struct rig *r, json_t *got[2])
{
    lbox_telemetry_flush(r->env->telemetry, 2000);
    for (int i = 0; i < 2; i++) {
        got[i] = events_of(r->conn[i]);
        close(r->conn[i]);
    }
    lbox_telemetry_free(r->env->telemetry);
    lbox_log_stream_free(&r->env->out);
    lbox_log_stream_free(&r->env->tele);
    for (size_t i = 0; i < sizeof r->env->tele_lines / sizeof *r->env->tele_lines; i++)
        free(r->env->tele_lines[i].buf);
    free(r->env);
    close(r->lfd);
}

static const char *record(json_t *records, size_t i)
{
    return json_string_value(json_array_get(records, i));
}

/* A console record as the runtime writes it to its telemetry fd, in one piece or two. */
static void console(struct rig *r, const char *msg, size_t len, size_t first_piece)
{
    unsigned char h[16] = {0xa5, 0x5a, 0x00, 0x03 | 0b01100, (unsigned char)(len >> 24),
                           (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                           (unsigned char)len};
    lbox_log_stream_feed(&r->env->tele, (const char *)h, sizeof h);
    lbox_log_stream_feed(&r->env->tele, msg, first_piece);
    lbox_log_stream_feed(&r->env->tele, msg + first_piece, len - first_piece);
}

static void a_record_of_several_lines_is_one_event(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    const char *msg = "2026-01-01T00:00:00.000Z\tid\tERROR\tfirst\nsecond\n";
    console(&r, msg, strlen(msg), 30);
    const char *json = "{\"message\":\"m\"}"; /* JSON records come without a newline */
    console(&r, json, strlen(json), 3);
    json_t *got[2];
    rig_down(&r, got);
    assert_int_equal(json_array_size(got[0]), 2);
    assert_string_equal(record(got[0], 0), "2026-01-01T00:00:00.000Z\tid\tERROR\tfirst\nsecond");
    assert_string_equal(record(got[0], 1), json);
    /* The Logs API's records end with their newline. */
    assert_int_equal(json_array_size(got[1]), 2);
    assert_string_equal(record(got[1], 0), msg);
    assert_string_equal(record(got[1], 1), "{\"message\":\"m\"}\n");
    json_decref(got[0]);
    json_decref(got[1]);
}

/* A record of 100,000 bytes goes in 64 KiB pieces; the Logs API's newline ends the last
 * piece only. A newline right after a piece's end stays in the record. */
static void long_records_go_in_pieces(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    size_t n = 100000;
    char *msg = malloc(n);
    memset(msg, 'x', n);
    msg[n - 1] = '\n';
    console(&r, msg, n, 4096);
    memset(msg, 'a', 65536);
    memcpy(msg + 65536, "\nsecond\n", 8);
    console(&r, msg, 65536 + 8, 65536);
    free(msg);
    json_t *got[2];
    rig_down(&r, got);
    assert_int_equal(json_array_size(got[0]), 4);
    assert_int_equal(strlen(record(got[0], 0)), 65536);
    assert_int_equal(strlen(record(got[0], 1)), 99999 - 65536);
    assert_int_equal(strlen(record(got[0], 2)), 65536);
    assert_string_equal(record(got[0], 3), "\nsecond");
    assert_int_equal(json_array_size(got[1]), 4);
    assert_null(strchr(record(got[1], 0), '\n'));
    assert_int_equal(strlen(record(got[1], 1)), 99999 - 65536 + 1);
    assert_string_equal(record(got[1], 3), "\nsecond\n");
    json_decref(got[0]);
    json_decref(got[1]);
}

/* A line left open when a platform line comes (END, START) is an event of its own, and so
 * is output that broke the console framing, when the next invoke resynchronises. */
static void open_lines_end_before_platform_lines(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    lbox_log_stream_feed(&r.env->out, "no newline", 10);
    env_end_log_line(r.env); /* END of that invoke */
    lbox_log_stream_feed(&r.env->out, "next invoke\n", 12);
    const char *junk = "written to fd 3 by the function";
    lbox_log_stream_feed(&r.env->tele, junk, strlen(junk));
    lbox_log_stream_resync(&r.env->tele); /* the next invoke */
    const char *msg = "2026-01-01T00:00:00.000Z\tid\tINFO\tafter\n";
    console(&r, msg, strlen(msg), 1);
    json_t *got[2];
    rig_down(&r, got);
    assert_int_equal(json_array_size(got[0]), 4);
    assert_string_equal(record(got[0], 0), "no newline");
    assert_string_equal(record(got[0], 1), "next invoke");
    assert_string_equal(record(got[0], 2), junk);
    assert_string_equal(record(got[0], 3), "2026-01-01T00:00:00.000Z\tid\tINFO\tafter");
    assert_string_equal(record(got[1], 0), "no newline\n");
    json_decref(got[0]);
    json_decref(got[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_record_of_several_lines_is_one_event),
        cmocka_unit_test(long_records_go_in_pieces),
        cmocka_unit_test(open_lines_end_before_platform_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
