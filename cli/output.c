#include "output.h"

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

void lbox_print_error(const char *cmd, const struct lbox_error *err)
{
    fprintf(stderr, "lbox %s: %s\n", cmd, err->msg[0] ? err->msg : "failed");
}

void lbox_print_notice(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "lbox: %s\n", msg);
}
