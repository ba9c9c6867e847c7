#include "log_stream.h"

#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"

#define FRAME_MAGIC 0xa55a0000u /* the high half of every record type (§1.11) */
#define FRAME_MAGIC_MASK 0xffff0000u

void lbox_log_stream_init(struct lbox_log_stream *ls, enum lbox_log_kind kind, lbox_log_sink sink,
                          void *ctx)
{
    memset(ls, 0, sizeof *ls);
    ls->kind = kind;
    ls->sink = sink;
    ls->ctx = ctx;
    ls->at_line_start = true;
}

void lbox_log_stream_on_records(struct lbox_log_stream *ls, lbox_log_sink data,
                                lbox_log_record_end end)
{
    ls->record_data = data;
    ls->record_end = end;
}

static void end_record(struct lbox_log_stream *ls)
{
    if (ls->record_end)
        ls->record_end(ls->ctx);
}

static void pass_on(struct lbox_log_stream *ls, const char *data, size_t len)
{
    if (len == 0)
        return;
    ls->sink(ls->ctx, data, len);
    ls->at_line_start = data[len - 1] == '\n';
}

static void flush_line(struct lbox_log_stream *ls)
{
    pass_on(ls, ls->line, ls->line_len);
    ls->line_len = 0;
}

static void feed_lines(struct lbox_log_stream *ls, const char *data, size_t len)
{
    const char *nl = len ? memrchr(data, '\n', len) : NULL;
    if (nl) {
        size_t whole = (size_t)(nl - data) + 1;
        flush_line(ls);
        pass_on(ls, data, whole);
        data += whole;
        len -= whole;
    }
    while (len) {
        if (!ls->line)
            ls->line = lbox_xmalloc(LBOX_LOG_LINE_MAX);
        size_t room = LBOX_LOG_LINE_MAX - ls->line_len;
        size_t k = len < room ? len : room;
        memcpy(ls->line + ls->line_len, data, k);
        ls->line_len += k;
        data += k;
        len -= k;
        if (ls->line_len == LBOX_LOG_LINE_MAX)
            flush_line(ls); /* no newline in sight: do not hold it back for ever */
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void feed_frames(struct lbox_log_stream *ls, const char *data, size_t len)
{
    while (len && !ls->unframed) {
        if (ls->body_left == 0) {
            size_t k = sizeof ls->head - ls->head_len;
            if (k > len)
                k = len;
            memcpy(ls->head + ls->head_len, data, k);
            ls->head_len += k;
            data += k;
            len -= k;
            if (ls->head_len < sizeof ls->head)
                return;
            uint32_t type = be32(ls->head), size = be32(ls->head + 4);
            if ((type & FRAME_MAGIC_MASK) != FRAME_MAGIC || size > LBOX_LOG_FRAME_MAX) {
                /* Not a record: whoever wrote it, it is output, shown as it came. */
                ls->unframed = true;
                feed_lines(ls, (const char *)ls->head, ls->head_len);
                break;
            }
            ls->head_len = 0;
            ls->body_left = size;
            if (!ls->at_line_start)
                pass_on(ls, "\n", 1);
            continue;
        }
        size_t k = len < ls->body_left ? len : ls->body_left;
        pass_on(ls, data, k);
        if (ls->record_data)
            ls->record_data(ls->ctx, data, k);
        data += k;
        len -= k;
        ls->body_left -= (uint32_t)k;
        if (ls->body_left == 0) {
            if (!ls->at_line_start)
                pass_on(ls, "\n", 1); /* JSON records come without one */
            end_record(ls);
        }
    }
    if (ls->unframed)
        feed_lines(ls, data, len);
}

void lbox_log_stream_feed(struct lbox_log_stream *ls, const char *data, size_t len)
{
    if (ls->kind == LBOX_LOG_FRAMES)
        feed_frames(ls, data, len);
    else
        feed_lines(ls, data, len);
}

void lbox_log_stream_break_line(struct lbox_log_stream *ls)
{
    flush_line(ls);
    if (!ls->at_line_start)
        pass_on(ls, "\n", 1);
}

bool lbox_log_stream_mid_record(const struct lbox_log_stream *ls)
{
    return ls->kind == LBOX_LOG_FRAMES && !ls->unframed && (ls->body_left || ls->head_len);
}

void lbox_log_stream_flush(struct lbox_log_stream *ls)
{
    flush_line(ls);
}

void lbox_log_stream_resync(struct lbox_log_stream *ls)
{
    flush_line(ls); /* the next frame starts a line of its own (feed_frames) */
    if (ls->unframed || ls->body_left)
        end_record(ls);
    ls->unframed = false;
    ls->head_len = 0;
    ls->body_left = 0;
}

void lbox_log_stream_free(struct lbox_log_stream *ls)
{
    free(ls->line);
    ls->line = NULL;
    ls->line_len = 0;
}
