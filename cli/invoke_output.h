/* What `lbox invoke` writes: the one-line JSON result of an event for scripts (--json).
 * (The function's bytes go out through common/shown.h.) */
#ifndef LBOX_CLI_INVOKE_OUTPUT_H
#define LBOX_CLI_INVOKE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/shown.h"
#include "runner/environment.h"

/* The result of one event as one line of JSON (malloc'd, ending in "\n"):
 *   {"requestId", "status": "success" | "error" | "timeout", "payload", "errorType"?,
 *    "streamed"?, "durationMs", "initDurationMs"?, "maxMemoryUsedMB"}
 * payload is the response (for a streamed one, `streamed` bytes), or the error JSON; for an
 * error after a stream began, "streamed" holds the bytes that went out first. Text that is
 * not UTF-8 goes in "payloadBase64" / "streamedBase64" instead. */
char *lbox_invoke_result_line(const struct lbox_invoke_result *res, const void *streamed,
                              size_t streamed_len);

#endif
