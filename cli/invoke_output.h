/* What `lbox invoke` writes: the function's bytes made safe for a terminal, and the
 * one-line JSON result of an event for scripts (--json). */
#ifndef LBOX_CLI_INVOKE_OUTPUT_H
#define LBOX_CLI_INVOKE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "runner/environment.h"

/* Writes data to fd, and when fd is a terminal shows the control characters a function could
 * use to drive it (escape sequences that recolour, hide or overwrite lines, set the title or
 * the clipboard) as \xHH, keeping tabs and newlines. Elsewhere the bytes pass as they are.
 * 0, or -1 with errno when a write failed. */
int lbox_write_shown(int fd, bool terminal, const void *data, size_t len);

/* The result of one event as one line of JSON (malloc'd, ending in "\n"):
 *   {"requestId", "status": "success" | "error" | "timeout", "payload", "errorType"?,
 *    "streamed"?, "durationMs", "initDurationMs"?, "maxMemoryUsedMB"}
 * payload is the response (for a streamed one, `streamed` bytes), or the error JSON; for an
 * error after a stream began, "streamed" holds the bytes that went out first. Text that is
 * not UTF-8 goes in "payloadBase64" / "streamedBase64" instead. */
char *lbox_invoke_result_line(const struct lbox_invoke_result *res, const void *streamed,
                              size_t streamed_len);

#endif
