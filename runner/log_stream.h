/* The function's output on its way to the user: whole lines and whole log records, so that
 * lbox's own platform lines (START, END, REPORT) never land inside one.
 *
 * Two kinds of stream:
 *  - LINES: the runtime's stdout and stderr (process.stdout.write, child processes,
 *    extensions). Complete lines are passed on; an unfinished one waits for its newline.
 *  - FRAMES: the telemetry log pipe (_LAMBDA_TELEMETRY_LOG_FD), where the runtime writes
 *    each console record synchronously as [4-byte type][4-byte length][8-byte time][message],
 *    big-endian (reference §1.11). Each message is passed on, ending in a newline. A stream
 *    that breaks the framing (the function can write to that fd too) is passed on as
 *    LINES from there on, so nothing it wrote is lost.
 *
 * The stream does no I/O: the caller reads the pipe and feeds the bytes in. */
#ifndef LBOX_LOG_STREAM_H
#define LBOX_LOG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*lbox_log_sink)(void *ctx, const char *data, size_t len);
/* A FRAMES stream's record: its message's bytes as they come, then its end. */
typedef void (*lbox_log_record_end)(void *ctx);

enum lbox_log_kind { LBOX_LOG_LINES, LBOX_LOG_FRAMES };

/* An unfinished line longer than this is passed on as it is. */
#define LBOX_LOG_LINE_MAX (64u * 1024)
/* A frame claiming a longer message is not believed (the stream becomes LINES): a fake
 * header must not swallow what follows. */
#define LBOX_LOG_FRAME_MAX (16u << 20)

struct lbox_log_stream {
    enum lbox_log_kind kind;
    lbox_log_sink sink;
    lbox_log_sink record_data;      /* optional (lbox_log_stream_on_records) */
    lbox_log_record_end record_end;
    void *ctx;
    bool unframed;            /* FRAMES whose framing broke: now LINES */
    unsigned char head[16];   /* a frame header being collected */
    size_t head_len;
    uint32_t body_left;       /* bytes of the current record's message still to come */
    bool at_line_start;       /* the last byte passed on was a newline (or none yet) */
    char *line;               /* LINES: the unfinished line */
    size_t line_len;
};

void lbox_log_stream_init(struct lbox_log_stream *ls, enum lbox_log_kind kind, lbox_log_sink sink,
                          void *ctx);
/* For a FRAMES stream, so that the caller can take a record of several lines as one, as
 * Lambda's Telemetry API does: besides going to the sink as usual, each record's message
 * goes to data (without the newlines the stream adds between records), and end is called
 * after its last byte. Once the framing broke, the output goes to the sink only, until a
 * resync, which calls end first. */
void lbox_log_stream_on_records(struct lbox_log_stream *ls, lbox_log_sink data,
                                lbox_log_record_end end);
void lbox_log_stream_feed(struct lbox_log_stream *ls, const char *data, size_t len);

/* Ends what was passed on with a newline if it stopped mid-line (an unfinished line is
 * passed on first), so that what comes next starts a line of its own. */
void lbox_log_stream_break_line(struct lbox_log_stream *ls);

/* Passes on an unfinished line as it is (no newline): for a caller that tracks, across
 * several streams sharing one output, where that output's lines end. */
void lbox_log_stream_flush(struct lbox_log_stream *ls);

/* True while a record has started but not ended: the caller keeps reading this stream
 * before it reads another, so that records stay whole. */
bool lbox_log_stream_mid_record(const struct lbox_log_stream *ls);

/* For a FRAMES stream at a point where the runtime writes nothing (before an invoke starts):
 * pass on an unfinished line, end a record left unfinished or output that was not frames
 * (record_end), and expect a frame header again, so that garbage written to the fd once spoils at most the invoke it was written
 * in. */
void lbox_log_stream_resync(struct lbox_log_stream *ls);

void lbox_log_stream_free(struct lbox_log_stream *ls);

#endif
