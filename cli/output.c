#include "output.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/shown.h"

const char *lbox_human_size(uint64_t bytes, char *buf, size_t len)
{
    if (bytes >= 1000ull * 1000 * 1000)
        snprintf(buf, len, "%.2f GB", (double)bytes / 1e9);
    else if (bytes >= 1000ull * 1000)
        snprintf(buf, len, "%.1f MB", (double)bytes / 1e6);
    else if (bytes >= 1000)
        snprintf(buf, len, "%.1f kB", (double)bytes / 1e3);
    else
        snprintf(buf, len, "%u B", (unsigned)bytes);
    return buf;
}

/* Messages quote what came from outside (a reference, a path, a zip's entry names): a
 * message stays one line wherever it goes (a name with a newline must not print a line of
 * its own that reads like lbox's), and on a terminal the other control characters are
 * shown, not obeyed. */
static void print_shown(const char *prefix, const char *msg)
{
    size_t n = strlen(prefix) + 2 + 2 * strlen(msg) + 2;
    char *line = lbox_xmalloc(n), *p = line;
    p += snprintf(p, n, "%s: ", prefix);
    for (const char *m = msg; *m; m++) {
        if (*m == '\n' || *m == '\r') {
            *p++ = '\\';
            *p++ = *m == '\n' ? 'n' : 'r';
        } else {
            *p++ = *m;
        }
    }
    *p++ = '\n';
    lbox_write_shown(STDERR_FILENO, isatty(STDERR_FILENO), line, (size_t)(p - line));
    free(line);
}

void lbox_print_error(const char *cmd, const struct lbox_error *err)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lbox %s", cmd);
    print_shown(prefix, err->msg[0] ? err->msg : "failed");
}

void lbox_print_warning(const char *cmd, const char *msg)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lbox %s: warning", cmd);
    print_shown(prefix, msg);
}

void lbox_print_notice(void *ctx, const char *msg)
{
    (void)ctx;
    print_shown("lbox", msg);
}
