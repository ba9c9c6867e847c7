#include "shown.h"

#include <stdio.h>
#include <string.h>

#include "fsutil.h"

/* C0 controls but tab and newline, DEL, and C1 controls (U+0080-U+009F, C2 80..C2 9F in
 * UTF-8): the bytes a terminal acts on. Returns how many bytes the control takes, 0 if none. */
static size_t control_at(const unsigned char *p, size_t left)
{
    if ((p[0] < 0x20 && p[0] != '\t' && p[0] != '\n') || p[0] == 0x7f)
        return 1;
    if (p[0] == 0xc2 && left > 1 && p[1] >= 0x80 && p[1] <= 0x9f)
        return 2;
    return 0;
}

int lbox_write_shown(int fd, bool terminal, const void *data, size_t len)
{
    if (!terminal)
        return lbox_write_all(fd, data, len);
    const unsigned char *p = data, *run = p, *end = p + len;
    while (p < end) {
        size_t n = control_at(p, (size_t)(end - p));
        if (!n) {
            p++;
            continue;
        }
        char shown[8];
        snprintf(shown, sizeof shown, "\\x%02x", n == 2 ? p[1] : p[0]);
        if (lbox_write_all(fd, run, (size_t)(p - run)) < 0 ||
            lbox_write_all(fd, shown, strlen(shown)) < 0)
            return -1;
        p += n;
        run = p;
    }
    return lbox_write_all(fd, run, (size_t)(p - run));
}
