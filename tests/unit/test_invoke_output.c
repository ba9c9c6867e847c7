/* What `lbox invoke` writes: a function's control characters shown, not acted on, when the
 * output is a terminal (and untouched elsewhere); and the --json line of an event, which
 * keeps one event per line whatever the payload holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/invoke_output.c"

/* What lbox_write_shown writes for `in` (terminal or not), NUL-terminated. */
static char *shown(bool terminal, const char *in, size_t len)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    lbox_write_shown(p[1], terminal, in, len);
    close(p[1]);
    static char out[512];
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = 0;
    return out;
}

static void test_terminal_sees_controls_shown(void **st)
{
    (void)st;
    /* A title change, a concealing colour, a clipboard write (OSC 52), a carriage return
     * that would overwrite the line, a NUL, DEL, and an 8-bit CSI in UTF-8. */
    static const char in[] = "a\x1b]0;pwned\x07 b\x1b[8m c\x1b]52;c;ZWNobw==\x07"
                             " d\rE\0F\x7fG\xc2\x9bH\n\tI";
    assert_string_equal(shown(true, in, sizeof in - 1),
                        "a\\x1b]0;pwned\\x07 b\\x1b[8m c\\x1b]52;c;ZWNobw==\\x07 d\\x0dE\\x00F"
                        "\\x7fG\\x9bH\n\tI");
    /* UTF-8 text stays as it is: é is C3 A9, and C2 A0 (no-break space) is not a control. */
    assert_string_equal(shown(true, "caf\xc3\xa9\xc2\xa0ok\n", 10), "caf\xc3\xa9\xc2\xa0ok\n");
    /* Not a terminal (a file, a pipe to a script): the bytes as the function wrote them. */
    char *raw = shown(false, in, sizeof in - 1);
    assert_memory_equal(raw, in, 12);
}

static json_t *parse_line(char *line)
{
    assert_non_null(line);
    size_t n = strlen(line);
    assert_true(n > 1 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1)); /* one line, whatever the payload held */
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    free(line);
    if (!j)
        fail_msg("not JSON: %s", e.text);
    return j;
}

static void test_json_line_of_each_result(void **st)
{
    (void)st;
    /* A response with newlines that would pass for a second event's line. */
    char body[] = "{\"forged\":1}\n{\"message\":\"event 2\"}";
    struct lbox_invoke_result res = {.status = LBOX_INVOKE_OK, .payload = body,
                                     .len = sizeof body - 1, .duration_ms = 1.5,
                                     .init_duration_ms = 80.25, .max_memory_mb = 41};
    strcpy(res.request_id, "6bc28136-6a3e-4f0c-a3b0-5bd4b7d6f0aa");
    json_t *j = parse_line(lbox_invoke_result_line(&res, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(j, "requestId")), res.request_id);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    assert_string_equal(json_string_value(json_object_get(j, "payload")), body);
    assert_true(json_real_value(json_object_get(j, "initDurationMs")) == 80.25);
    assert_int_equal(json_integer_value(json_object_get(j, "maxMemoryUsedMB")), 41);
    assert_null(json_object_get(j, "errorType"));
    json_decref(j);

    /* A stream that broke: the bytes that went out, then the error. Warm: no init. */
    char err[] = "{\"errorMessage\":\"broke\",\"errorType\":\"Error\"}";
    res = (struct lbox_invoke_result){.status = LBOX_INVOKE_FUNCTION_ERROR, .payload = err,
                                      .len = sizeof err - 1, .error_type = "Error",
                                      .streamed = true, .init_duration_ms = -1};
    j = parse_line(lbox_invoke_result_line(&res, "chunk 1\n", 8));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "Error");
    assert_string_equal(json_string_value(json_object_get(j, "payload")), err);
    assert_string_equal(json_string_value(json_object_get(j, "streamed")), "chunk 1\n");
    assert_null(json_object_get(j, "initDurationMs"));
    json_decref(j);

    /* A streamed response that is not UTF-8: base64, exactly. */
    res = (struct lbox_invoke_result){.status = LBOX_INVOKE_OK, .streamed = true,
                                      .init_duration_ms = -1};
    j = parse_line(lbox_invoke_result_line(&res, "\xff\xfe\x00\x01", 4));
    assert_null(json_object_get(j, "payload"));
    assert_string_equal(json_string_value(json_object_get(j, "payloadBase64")), "//4AAQ==");
    json_decref(j);

    /* A stream that sent nothing: an empty payload, not an empty payloadBase64. */
    res = (struct lbox_invoke_result){.status = LBOX_INVOKE_OK, .streamed = true,
                                      .init_duration_ms = -1};
    j = parse_line(lbox_invoke_result_line(&res, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(j, "payload")), "");
    assert_null(json_object_get(j, "payloadBase64"));
    json_decref(j);

    char tbody[] = "{\"errorMessage\":\"Task timed out after 1.00 seconds\"}";
    res = (struct lbox_invoke_result){.status = LBOX_INVOKE_TIMEOUT, .payload = tbody,
                                      .len = sizeof tbody - 1, .error_type = "Sandbox.Timedout",
                                      .init_duration_ms = -1};
    j = parse_line(lbox_invoke_result_line(&res, NULL, 0));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "timeout");
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "Sandbox.Timedout");
    json_decref(j);

    /* An error type is a header the runtime wrote: any bytes, kept as base64 when they are
     * not UTF-8 rather than dropped. */
    char etype[] = "Bad\xff\xfeType";
    res = (struct lbox_invoke_result){.status = LBOX_INVOKE_FUNCTION_ERROR, .payload = err,
                                      .len = sizeof err - 1, .error_type = etype,
                                      .init_duration_ms = -1};
    j = parse_line(lbox_invoke_result_line(&res, NULL, 0));
    assert_null(json_object_get(j, "errorType"));
    assert_string_equal(json_string_value(json_object_get(j, "errorTypeBase64")), "QmFk//5UeXBl");
    json_decref(j);
}

/* Durations are written to the microsecond, as short as they read back. */
static void test_json_line_durations(void **st)
{
    (void)st;
    struct lbox_invoke_result res = {.status = LBOX_INVOKE_OK, .payload = "1", .len = 1,
                                     .duration_ms = 6.4772069999999999,
                                     .init_duration_ms = 80.0004};
    char *line = lbox_invoke_result_line(&res, NULL, 0);
    assert_non_null(strstr(line, "\"durationMs\":6.477,"));
    assert_non_null(strstr(line, "\"initDurationMs\":80.0,"));
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terminal_sees_controls_shown),
        cmocka_unit_test(test_json_line_of_each_result),
        cmocka_unit_test(test_json_line_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
