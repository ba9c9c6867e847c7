/* Small output helpers shared by the subcommands. */
#ifndef LBOX_CLI_OUTPUT_H
#define LBOX_CLI_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "../common/error.h"

/* "12.3 MB", "512 kB", "80 B" into buf. */
const char *lbox_human_size(uint64_t bytes, char *buf, size_t len);

/* Prints "lbox <cmd>: <message>" to stderr; on a terminal, control characters in the
 * message (from a reference, a path, an entry name) are shown as \xHH, not obeyed. */
void lbox_print_error(const char *cmd, const struct lbox_error *err);
/* The same for "lbox <cmd>: warning: <message>". */
void lbox_print_warning(const char *cmd, const char *msg);

/* A fetcher notice callback that prints "lbox: <msg>" to stderr. */
void lbox_print_notice(void *ctx, const char *msg);

#endif
