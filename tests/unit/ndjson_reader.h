/* Reading newline-delimited JSON events, as a TCP subscriber of the Telemetry or Logs API
 * gets them (tests of runner/telemetry.c and runner/env_log.c). Include after cmocka.h. */
#ifndef LBOX_TEST_NDJSON_READER_H
#define LBOX_TEST_NDJSON_READER_H

#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* Reads events from fd until `want` have come or ms passed without any; returns them as a
 * JSON array. */
static json_t *read_events_within(int fd, size_t want, int ms)
{
    json_t *all = json_array();
    static char buf[1 << 22];
    size_t len = 0;
    while (json_array_size(all) < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0)
            break;
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            json_t *e = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
            assert_non_null(e);
            json_array_append_new(all, e);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
        }
    }
    return all;
}

#endif
