/* What the function sees and what the user reads: Lambda's environment variables, the
 * START/END/REPORT lines, how a runtime's end is described, events and SAM env files. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "runner/env_vars.h"
#include "runner/event_input.h"
#include "runner/report.h"

static void build(struct lbox_strv *out, const struct lbox_strv *user, const char *const *caller)
{
    static const char *const image_env[] = {
        "PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG=en_US.UTF-8",
        "TZ=:/etc/localtime", "LAMBDA_TASK_ROOT=/var/task", NULL};
    struct lbox_env_settings s = {.function_name = "hello", .handler = "index.handler",
                                  .memory_mb = 256, .image_env = image_env, .user = user,
                                  .caller_env = caller};
    struct lbox_error err = {0};
    assert_int_equal(lbox_env_build(&s, out, &err), 0);
}

static void test_platform_variables(void **st)
{
    (void)st;
    const char *caller[] = {"HOME=/root", "SECRET_HOST_THING=1", "AWS_PROFILE=dev", NULL};
    struct lbox_strv e;
    build(&e, NULL, caller);
    assert_string_equal(lbox_strv_get(&e, "AWS_LAMBDA_FUNCTION_NAME"), "hello");
    assert_string_equal(lbox_strv_get(&e, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "256");
    assert_string_equal(lbox_strv_get(&e, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    assert_string_equal(lbox_strv_get(&e, "AWS_LAMBDA_LOG_GROUP_NAME"), "/aws/lambda/hello");
    const char *stream = lbox_strv_get(&e, "AWS_LAMBDA_LOG_STREAM_NAME");
    assert_non_null(stream);
    assert_int_equal(strlen(stream), strlen("2024/01/02/[$LATEST]") + 32);
    assert_non_null(strstr(stream, "/[$LATEST]"));
    assert_string_equal(lbox_strv_get(&e, "AWS_LAMBDA_RUNTIME_API"), "127.0.0.1:9001");
    assert_string_equal(lbox_strv_get(&e, "_HANDLER"), "index.handler");
    assert_string_equal(lbox_strv_get(&e, "AWS_REGION"), "us-east-1");
    assert_string_equal(lbox_strv_get(&e, "LAMBDA_RUNTIME_DIR"), "/var/runtime");
    assert_string_equal(lbox_strv_get(&e, "TZ"), ":/etc/localtime"); /* the image's */
    assert_non_null(lbox_strv_get(&e, "AWS_ACCESS_KEY_ID"));         /* placeholder */
    /* Nothing from the host. */
    assert_null(lbox_strv_get(&e, "HOME"));
    assert_null(lbox_strv_get(&e, "SECRET_HOST_THING"));
    assert_null(lbox_strv_get(&e, "AWS_PROFILE"));
    lbox_strv_free(&e);
}

static void test_caller_credentials_and_region(void **st)
{
    (void)st;
    const char *caller[] = {"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=sekrit",
                            "AWS_SESSION_TOKEN=tok", "AWS_REGION=eu-west-3", NULL};
    struct lbox_strv e;
    build(&e, NULL, caller);
    assert_string_equal(lbox_strv_get(&e, "AWS_ACCESS_KEY_ID"), "AKIDTEST");
    assert_string_equal(lbox_strv_get(&e, "AWS_SECRET_ACCESS_KEY"), "sekrit");
    assert_string_equal(lbox_strv_get(&e, "AWS_SESSION_TOKEN"), "tok");
    assert_string_equal(lbox_strv_get(&e, "AWS_REGION"), "eu-west-3");
    assert_string_equal(lbox_strv_get(&e, "AWS_DEFAULT_REGION"), "eu-west-3");
    lbox_strv_free(&e);
}

static void test_user_variables(void **st)
{
    (void)st;
    struct lbox_strv user = {0}, e;
    struct lbox_error err = {0};
    assert_int_equal(lbox_env_add_user_arg(&user, "GREETING=hi=there", &err), 0);
    assert_int_equal(lbox_env_add_user_arg(&user, "TZ=Europe/Paris", &err), 0);
    build(&e, &user, NULL);
    assert_string_equal(lbox_strv_get(&e, "GREETING"), "hi=there");
    assert_string_equal(lbox_strv_get(&e, "TZ"), "Europe/Paris"); /* not reserved */
    lbox_strv_free(&e);

    assert_int_equal(lbox_env_add_user_arg(&user, "AWS_REGION=x", &err), -1);
    assert_non_null(strstr(err.msg, "AWS_REGION is reserved"));
    assert_int_equal(lbox_env_add_user_arg(&user, "_HANDLER=x", &err), -1);
    assert_int_equal(lbox_env_add_user_arg(&user, "AWS_LAMBDA_RUNTIME_API=1.2.3.4:1", &err), -1);
    assert_int_equal(lbox_env_add_user_arg(&user, "1BAD=x", &err), -1);
    assert_int_equal(lbox_env_add_user_arg(&user, "BAD-NAME=x", &err), -1);
    assert_int_equal(lbox_env_add_user_arg(&user, "NOEQUALS", &err), -1);
    assert_int_equal(lbox_env_check_user_size(&user, &err), 0);
    char big[5000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    lbox_strv_set(&user, "BIG", big);
    assert_int_equal(lbox_env_check_user_size(&user, &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    lbox_strv_free(&user);
}

static void test_extension_env(void **st)
{
    (void)st;
    struct lbox_strv e, x;
    build(&e, NULL, NULL);
    lbox_env_for_extensions(&e, &x);
    assert_null(lbox_strv_get(&x, "_HANDLER"));
    assert_null(lbox_strv_get(&x, "AWS_XRAY_CONTEXT_MISSING"));
    assert_string_equal(lbox_strv_get(&x, "AWS_LAMBDA_FUNCTION_NAME"), "hello");
    lbox_strv_free(&e);
    lbox_strv_free(&x);
}

static void test_report_lines(void **st)
{
    (void)st;
    const char *id = "c793869b-ee49-115b-a5b6-4fd21e8dedac";
    char *s = lbox_report_start(id, NULL);
    assert_string_equal(s, "START RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac Version: $LATEST\n");
    free(s);
    s = lbox_report_end(id);
    assert_string_equal(s, "END RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\n");
    free(s);
    struct lbox_report r = {.request_id = id, .duration_ms = 40.551, .memory_mb = 128,
                            .max_memory_bytes = 74u << 20, .init_duration_ms = 166.624};
    s = lbox_report_line(&r);
    assert_string_equal(s, "REPORT RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\tDuration: "
                           "40.55 ms\tBilled Duration: 41 ms\tMemory Size: 128 MB\tMax Memory "
                           "Used: 74 MB\tInit Duration: 166.62 ms\t\n");
    free(s);
    r.init_duration_ms = -1;
    r.duration_ms = 3.0;
    s = lbox_report_line(&r);
    assert_non_null(strstr(s, "Billed Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 74 MB\t\n"));
    assert_null(strstr(s, "Init Duration"));
    free(s);
    s = lbox_report_timeout_line(id, 3.0);
    assert_non_null(strstr(s, "Z c793869b-ee49-115b-a5b6-4fd21e8dedac Task timed out after 3.00 seconds\n"));
    free(s);
    assert_int_equal(lbox_memory_used_mb((74u << 20) + 1), 75);
}

static void test_describe_exit(void **st)
{
    (void)st;
    char b[64];
    lbox_describe_exit(3 << 8, b, sizeof b);
    assert_string_equal(b, "exit status 3");
    lbox_describe_exit(SIGKILL, b, sizeof b);
    assert_string_equal(b, "signal: killed");
    lbox_describe_exit(SIGSEGV, b, sizeof b);
    assert_string_equal(b, "signal: segmentation fault");
}

static char *tmpfile_with(const char *content)
{
    char *p = strdup("/tmp/lbox-test-XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return p;
}

static void test_events(void **st)
{
    (void)st;
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    char *one = tmpfile_with("{\n  \"a\": 1\n}\n");
    char *lines = tmpfile_with("{\"n\":1}\n\n{\"n\":2}\n[3]\n");
    char *bad = tmpfile_with("{\"n\":1}\n{oops\n");
    char *empty = tmpfile_with("  \n");
    assert_int_equal(lbox_events_add_file(&ev, one, &err), 0);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.v[0].data, "{\n  \"a\": 1\n}\n"); /* bytes kept as written */
    assert_int_equal(lbox_events_add_file(&ev, lines, &err), 0);
    assert_int_equal(ev.n, 4);
    assert_string_equal(ev.v[2].data, "{\"n\":2}");
    assert_non_null(strstr(ev.v[2].origin, "line 3"));
    assert_int_equal(lbox_events_add_file(&ev, bad, &err), -1);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_int_equal(ev.n, 4); /* nothing half-added */
    assert_int_equal(lbox_events_add_file(&ev, empty, &err), -1);
    assert_int_equal(lbox_events_add_file(&ev, "/nonexistent/e.json", &err), -1);

    char *big = malloc(6291456 + 16);
    big[0] = '"';
    memset(big + 1, 'x', 6291456);
    big[6291457] = '"';
    assert_int_equal(lbox_events_add_buffer(&ev, big, 6291458, "big", &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "6291456"));
    free(big);
    lbox_events_free(&ev);
    unlink(one); unlink(lines); unlink(bad); unlink(empty);
    free(one); free(lines); free(bad); free(empty);
}

static void test_sam_env_file(void **st)
{
    (void)st;
    struct lbox_strv u = {0};
    struct lbox_error err = {0};
    char *f = tmpfile_with("{\"Parameters\": {\"AA\": \"global\", \"BB\": 2},"
                           " \"hello\": {\"AA\": \"mine\", \"CC\": true},"
                           " \"other\": {\"DD\": \"not mine\"}}");
    assert_int_equal(lbox_env_file_load(f, "hello", &u, &err), 0);
    assert_string_equal(lbox_strv_get(&u, "AA"), "mine");
    assert_string_equal(lbox_strv_get(&u, "BB"), "2");
    assert_string_equal(lbox_strv_get(&u, "CC"), "true");
    assert_null(lbox_strv_get(&u, "DD"));
    lbox_strv_free(&u);
    char *flat = tmpfile_with("{\"XX\": \"1\"}");
    assert_int_equal(lbox_env_file_load(flat, "hello", &u, &err), 0);
    assert_string_equal(lbox_strv_get(&u, "XX"), "1");
    lbox_strv_free(&u);
    char *reserved = tmpfile_with("{\"Parameters\": {\"AWS_REGION\": \"x\"}}");
    assert_int_equal(lbox_env_file_load(reserved, "hello", &u, &err), -1);
    assert_non_null(strstr(err.msg, "reserved"));
    char *broken = tmpfile_with("{\"Parameters\": ");
    assert_int_equal(lbox_env_file_load(broken, "hello", &u, &err), -1);
    lbox_strv_free(&u);
    unlink(f); unlink(flat); unlink(reserved); unlink(broken);
    free(f); free(flat); free(reserved); free(broken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_variables),
        cmocka_unit_test(test_caller_credentials_and_region),
        cmocka_unit_test(test_user_variables),
        cmocka_unit_test(test_extension_env),
        cmocka_unit_test(test_report_lines),
        cmocka_unit_test(test_describe_exit),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_sam_env_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
