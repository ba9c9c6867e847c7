/* The function's output on its way to stderr: telemetry frames cut anywhere, a stream that
 * is not frames after all, unfinished lines, and platform lines in between. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runner/log_stream.h"

struct out {
    char buf[1 << 20];
    size_t len;
    int calls;
    char records[4096]; /* what record_data got, and where each record ended in it */
    size_t records_len;
    size_t ends[8];
    int nends;
};

static void sink(void *ctx, const char *data, size_t len)
{
    struct out *o = ctx;
    assert_true(o->len + len < sizeof o->buf);
    memcpy(o->buf + o->len, data, len);
    o->len += len;
    o->buf[o->len] = 0;
    o->calls++;
}

static void record_data(void *ctx, const char *data, size_t len)
{
    struct out *o = ctx;
    assert_true(o->records_len + len < sizeof o->records);
    memcpy(o->records + o->records_len, data, len);
    o->records_len += len;
}

static void record_end(void *ctx)
{
    struct out *o = ctx;
    assert_true(o->nends < 8);
    o->ends[o->nends++] = o->records_len;
}

/* A frame as the runtime writes it: type | level, length, time in µs, message. */
static size_t frame(unsigned char *p, uint32_t type, const char *msg)
{
    uint32_t n = (uint32_t)strlen(msg);
    unsigned char head[16] = {type >> 24, type >> 16, type >> 8, type, n >> 24, n >> 16, n >> 8, n,
                              0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
    memcpy(p, head, 16);
    memcpy(p + 16, msg, n);
    return 16 + n;
}

static void feed_in_pieces(struct lbox_log_stream *ls, const unsigned char *p, size_t len,
                           size_t piece)
{
    for (size_t at = 0; at < len; at += piece)
        lbox_log_stream_feed(ls, (const char *)p + at, len - at < piece ? len - at : piece);
}

static void frames_cut_anywhere_come_out_whole(void **state)
{
    (void)state;
    unsigned char bytes[512];
    size_t n = frame(bytes, 0xa55a0003 | 0b01100, "2026-01-01T00:00:00.000Z\tid\tINFO\thello\n");
    n += frame(bytes + n, 0xa55a0002 | 0b10100, "{\"level\":\"ERROR\",\"message\":\"a\\nb\"}");
    n += frame(bytes + n, 0xa55a0003 | 0b10100, "Error: first\nsecond\n");
    const char *want = "2026-01-01T00:00:00.000Z\tid\tINFO\thello\n"
                       "{\"level\":\"ERROR\",\"message\":\"a\\nb\"}\n" /* JSON: newline added */
                       "Error: first\nsecond\n";
    for (size_t piece = 1; piece <= n; piece++) {
        struct out *o = calloc(1, sizeof *o);
        struct lbox_log_stream ls;
        lbox_log_stream_init(&ls, LBOX_LOG_FRAMES, sink, o);
        lbox_log_stream_on_records(&ls, record_data, record_end);
        feed_in_pieces(&ls, bytes, n, piece);
        assert_false(lbox_log_stream_mid_record(&ls));
        assert_string_equal(o->buf, want);
        /* The records' own bytes (no newline added after the JSON one), each end told once
         * after its last byte: a record of two lines is one record. */
        const char *records = "2026-01-01T00:00:00.000Z\tid\tINFO\thello\n"
                              "{\"level\":\"ERROR\",\"message\":\"a\\nb\"}"
                              "Error: first\nsecond\n";
        assert_int_equal(o->records_len, strlen(records));
        assert_memory_equal(o->records, records, o->records_len);
        assert_int_equal(o->nends, 3);
        assert_int_equal(o->ends[0], 39);
        assert_int_equal(o->ends[1], 39 + 34);
        assert_int_equal(o->ends[2], strlen(records));
        lbox_log_stream_free(&ls);
        free(o);
    }
}

static void a_record_cut_short_is_mid_record(void **state)
{
    (void)state;
    struct out *o = calloc(1, sizeof *o);
    unsigned char bytes[128];
    size_t n = frame(bytes, 0xa55a0003 | 0b01100, "partial record\n");
    struct lbox_log_stream ls;
    lbox_log_stream_init(&ls, LBOX_LOG_FRAMES, sink, o);
    lbox_log_stream_feed(&ls, (const char *)bytes, 10); /* inside the header */
    assert_true(lbox_log_stream_mid_record(&ls));
    lbox_log_stream_feed(&ls, (const char *)bytes + 10, 10); /* inside the message */
    assert_true(lbox_log_stream_mid_record(&ls));
    /* A platform line now starts on a line of its own; the rest follows. */
    lbox_log_stream_break_line(&ls);
    sink(o, "END\n", 4);
    lbox_log_stream_feed(&ls, (const char *)bytes + 20, n - 20);
    assert_false(lbox_log_stream_mid_record(&ls));
    assert_string_equal(o->buf, "part\nEND\nial record\n");
    lbox_log_stream_free(&ls);
    free(o);
}

/* The function can write to the telemetry fd itself: what is not a frame is output too. */
static void a_stream_that_is_not_frames_is_passed_on_as_lines(void **state)
{
    (void)state;
    struct out *o = calloc(1, sizeof *o);
    unsigned char bytes[256];
    size_t n = frame(bytes, 0xa55a0003 | 0b01100, "a record\n");
    const char *junk = "written by the function itself\nand more";
    memcpy(bytes + n, junk, strlen(junk));
    n += strlen(junk);
    struct lbox_log_stream ls;
    lbox_log_stream_init(&ls, LBOX_LOG_FRAMES, sink, o);
    lbox_log_stream_on_records(&ls, record_data, record_end);
    lbox_log_stream_feed(&ls, (const char *)bytes, n);
    assert_string_equal(o->buf, "a record\nwritten by the function itself\n");
    /* Only the record went to record_data; the rest is the sink's. */
    assert_int_equal(o->nends, 1);
    assert_int_equal(o->records_len, 9);
    assert_false(lbox_log_stream_mid_record(&ls));
    lbox_log_stream_break_line(&ls);
    assert_string_equal(o->buf, "a record\nwritten by the function itself\nand more\n");
    /* A resync ends the stretch that was not frames, so that its caller can close it. */
    lbox_log_stream_resync(&ls);
    assert_int_equal(o->nends, 2);
    lbox_log_stream_free(&ls);
    free(o);
}

/* A fake header (the function wrote it to fd 3) claiming a huge message is not believed;
 * one claiming a plausible size swallows output only until the next invoke's resync. */
static void fake_headers_do_not_silence_what_follows(void **state)
{
    (void)state;
    struct out *o = calloc(1, sizeof *o);
    struct lbox_log_stream ls;
    lbox_log_stream_init(&ls, LBOX_LOG_FRAMES, sink, o);
    const unsigned char huge[16] = {0xa5, 0x5a, 0x00, 0x03, 0x7f, 0xff, 0xff, 0xf0};
    lbox_log_stream_feed(&ls, (const char *)huge, sizeof huge);
    lbox_log_stream_feed(&ls, "after\n", 6);
    assert_false(lbox_log_stream_mid_record(&ls));
    assert_non_null(memmem(o->buf, o->len, "after\n", 6)); /* shown, not swallowed */

    unsigned char bytes[256];
    lbox_log_stream_resync(&ls); /* next invoke: frames again */
    o->len = 0;
    o->buf[0] = 0;
    const unsigned char plausible[16] = {0xa5, 0x5a, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00};
    lbox_log_stream_feed(&ls, (const char *)plausible, sizeof plausible);
    lbox_log_stream_feed(&ls, "swallowed\n", 10);
    assert_true(lbox_log_stream_mid_record(&ls));
    lbox_log_stream_resync(&ls);
    assert_false(lbox_log_stream_mid_record(&ls));
    o->len = 0;
    o->buf[0] = 0;
    size_t n = frame(bytes, 0xa55a0003 | 0b01100, "a real record\n");
    lbox_log_stream_feed(&ls, (const char *)bytes, n);
    assert_string_equal(o->buf, "a real record\n");
    lbox_log_stream_free(&ls);
    free(o);
}

static void lines_wait_for_their_newline(void **state)
{
    (void)state;
    struct out *o = calloc(1, sizeof *o);
    struct lbox_log_stream ls;
    lbox_log_stream_init(&ls, LBOX_LOG_LINES, sink, o);
    lbox_log_stream_feed(&ls, "one\ntw", 6);
    assert_string_equal(o->buf, "one\n");
    lbox_log_stream_feed(&ls, "o\nthr", 5);
    assert_string_equal(o->buf, "one\ntwo\n");
    lbox_log_stream_break_line(&ls); /* START or END comes now */
    assert_string_equal(o->buf, "one\ntwo\nthr\n");
    lbox_log_stream_break_line(&ls); /* nothing pending: nothing added */
    assert_string_equal(o->buf, "one\ntwo\nthr\n");
    lbox_log_stream_free(&ls);
    free(o);
}

static void a_line_without_end_is_not_held_for_ever(void **state)
{
    (void)state;
    struct out *o = calloc(1, sizeof *o);
    struct lbox_log_stream ls;
    lbox_log_stream_init(&ls, LBOX_LOG_LINES, sink, o);
    size_t big = 3 * LBOX_LOG_LINE_MAX + 5;
    char *y = malloc(big);
    memset(y, 'y', big);
    feed_in_pieces(&ls, (const unsigned char *)y, big, 4096);
    assert_int_equal(o->len, 3 * LBOX_LOG_LINE_MAX); /* passed on as the buffer fills */
    lbox_log_stream_break_line(&ls);
    assert_int_equal(o->len, big + 1);
    assert_int_equal(o->buf[big], '\n');
    free(y);
    lbox_log_stream_free(&ls);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_cut_anywhere_come_out_whole),
        cmocka_unit_test(a_record_cut_short_is_mid_record),
        cmocka_unit_test(a_stream_that_is_not_frames_is_passed_on_as_lines),
        cmocka_unit_test(fake_headers_do_not_silence_what_follows),
        cmocka_unit_test(lines_wait_for_their_newline),
        cmocka_unit_test(a_line_without_end_is_not_held_for_ever),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
