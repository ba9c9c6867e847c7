/* The replies the Runtime API sends, shaped as RAPID's are. */
#include "rapi_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"

void rapi_wake(struct lbox_rapi *api)
{
    uint64_t one = 1;
    ssize_t r = write(api->wake_fd, &one, sizeof one);
    (void)r; /* an eventfd write only fails when the counter is saturated: it is readable then */
}

/* ctype and the extra header (hname: hvalue) are left out when NULL. */
enum MHD_Result rapi_reply_with(struct MHD_Connection *c, unsigned status, const char *ctype,
                                const void *body, size_t len, const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        rapi_mhd->create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        rapi_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (hname && hvalue)
        rapi_mhd->add_response_header(r, hname, hvalue);
    enum MHD_Result ret = rapi_mhd->queue_response(c, status, r);
    rapi_mhd->destroy_response(r);
    return ret;
}

enum MHD_Result rapi_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                           const void *body, size_t len)
{
    return rapi_reply_with(c, status, ctype, body, len, NULL, NULL);
}

char *rapi_json_line(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return NULL;
    /* Go's encoder also escapes <, > and & (for HTML), and U+2028 and U+2029 (for
     * JavaScript), all of which can only be inside strings here; jansson leaves them. */
    size_t n = strlen(s), k = 0;
    char *line = lbox_xmalloc(n * 6 + 2);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '<' || c == '>' || c == '&') {
            k += (size_t)sprintf(line + k, "\\u%04x", c);
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
            k += (size_t)sprintf(line + k, "\\u%04x", 0x2000 + (unsigned char)s[i + 2] - 0x80);
            i += 2;
        } else {
            line[k++] = (char)c;
        }
    }
    line[k++] = '\n';
    line[k] = '\0';
    free(s);
    return line;
}

enum MHD_Result rapi_reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *line = rapi_json_line(j);
    if (!line)
        return MHD_NO;
    enum MHD_Result ret = rapi_reply(c, status, "application/json", line, strlen(line));
    free(line);
    return ret;
}

enum MHD_Result rapi_reply_error(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *msg)
{
    return rapi_reply_json(c, status,
                           json_pack("{s:s,s:s}", "errorMessage", msg, "errorType", type));
}

enum MHD_Result rapi_reply_status_ok(struct MHD_Connection *c)
{
    return rapi_reply_json(c, MHD_HTTP_ACCEPTED, json_pack("{s:s}", "status", "OK"));
}

const char *rapi_header(struct MHD_Connection *c, const char *name)
{
    return rapi_mhd->lookup_connection_value(c, MHD_HEADER_KIND, name);
}
