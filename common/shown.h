/* Bytes from hostile code (a function's output, an install script's) on lbox's own output:
 * harmless to the terminal that shows them. */
#ifndef LBOX_COMMON_SHOWN_H
#define LBOX_COMMON_SHOWN_H

#include <stdbool.h>
#include <stddef.h>

/* Writes data to fd, and when fd is a terminal shows the control characters a function could
 * use to drive it (escape sequences that recolour, hide or overwrite lines, set the title or
 * the clipboard) as \xHH, keeping tabs and newlines. Elsewhere the bytes pass as they are.
 * 0, or -1 with errno when a write failed. */
int lbox_write_shown(int fd, bool terminal, const void *data, size_t len);

#endif
