#include "invoke_output.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"

/* Sets key (or key + "Base64" when the bytes are not UTF-8) to the bytes. */
static void set_bytes(json_t *o, const char *key, const void *data, size_t len)
{
    json_t *s = json_stringn(data ? data : "", len); /* an empty stream has no buffer */
    if (s) {
        json_object_set_new(o, key, s);
        return;
    }
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *b64 = lbox_xcalloc(1, cap);
    EVP_EncodeBlock(b64, data, (int)len); /* responses are bounded well below INT_MAX */
    char name[64];
    snprintf(name, sizeof name, "%sBase64", key);
    json_object_set_new(o, name, json_string((const char *)b64));
    free(b64);
}

/* Milliseconds (>= 0) to the microsecond, the clock's useful resolution here. */
static double to_microseconds(double ms)
{
    return (double)(long long)(ms * 1000.0 + 0.5) / 1000.0;
}

char *lbox_invoke_result_line(const struct lbox_invoke_result *res, const void *streamed,
                              size_t streamed_len)
{
    static const char *const status[] = {
        [LBOX_INVOKE_OK] = "success",
        [LBOX_INVOKE_FUNCTION_ERROR] = "error",
        [LBOX_INVOKE_TIMEOUT] = "timeout",
    };
    json_t *o = json_object();
    json_object_set_new(o, "requestId", json_string(res->request_id));
    json_object_set_new(o, "status", json_string(status[res->status]));
    if (res->streamed && res->status == LBOX_INVOKE_OK)
        set_bytes(o, "payload", streamed, streamed_len);
    else
        set_bytes(o, "payload", res->payload, res->len);
    if (res->status != LBOX_INVOKE_OK && res->error_type) /* a header: any bytes */
        set_bytes(o, "errorType", res->error_type, strlen(res->error_type));
    if (res->streamed && res->status != LBOX_INVOKE_OK)
        set_bytes(o, "streamed", streamed, streamed_len);
    json_object_set_new(o, "durationMs", json_real(to_microseconds(res->duration_ms)));
    if (res->init_duration_ms >= 0)
        json_object_set_new(o, "initDurationMs",
                            json_real(to_microseconds(res->init_duration_ms)));
    json_object_set_new(o, "maxMemoryUsedMB", json_integer(res->max_memory_mb));
    /* 15 digits: 6.477 stays 6.477, not jansson's default 6.4770000000000003. */
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!text)
        return NULL;
    char *line = lbox_strdupf("%s\n", text);
    free(text);
    return line;
}
