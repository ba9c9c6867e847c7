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
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "runner/env_internal.h"
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
    /* A region that is not a region's name would break the ARN and the environment. */
    const char *bad[] = {"AWS_REGION=eu-west-3\nX=1", "AWS_DEFAULT_REGION=EU WEST", NULL};
    for (size_t i = 0; bad[i]; i++) {
        const char *env[] = {bad[i], NULL};
        struct lbox_env_settings s = {.function_name = "hello", .memory_mb = 128,
                                      .caller_env = env};
        struct lbox_error err = {0};
        assert_int_equal(lbox_env_build(&s, &e, &err), -1);
        assert_non_null(strstr(err.msg, "is not a region name such as us-east-1"));
    }
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
    assert_non_null(strstr(err.msg, "--env 'NOEQUALS'"));
    assert_int_equal(lbox_env_check_user_size(&user, &err), 0);
    char big[5000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    lbox_strv_set(&user, "BIG", big);
    assert_int_equal(lbox_env_check_user_size(&user, &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    lbox_strv_free(&user);
}

/* --env's form (an '=' and a valid name) is a command-line matter, told apart from a
 * reserved name, which is Lambda's refusal of a configuration. */
static void test_env_arg_form(void **st)
{
    (void)st;
    struct lbox_error err = {0};
    char *name = NULL;
    const char *value = NULL;
    assert_int_equal(lbox_env_parse_user_arg("AWS_REGION=x=y", &name, &value, &err), 0);
    assert_string_equal(name, "AWS_REGION");
    assert_string_equal(value, "x=y");
    free(name);
    assert_int_equal(lbox_env_parse_user_arg("NOEQ", &name, &value, &err), -1);
    assert_non_null(strstr(err.msg, "--env 'NOEQ': expected NAME=value"));
    assert_int_equal(lbox_env_parse_user_arg("1A=x", &name, &value, &err), -1);
    assert_non_null(strstr(err.msg, "--env '1A=x'"));
    assert_non_null(strstr(err.msg, "name '1A' is not valid"));
    assert_int_equal(lbox_env_parse_user_arg("=x", &name, &value, &err), -1);
    /* A reserved name passes the form check whatever its form; the check of the variable
     * says it is reserved, and where its value comes from instead. */
    assert_int_equal(lbox_env_parse_user_arg("_HANDLER=x", &name, &value, &err), 0);
    assert_int_equal(lbox_env_check_user_var(name, &err), -1);
    assert_non_null(strstr(err.msg, "_HANDLER is reserved by Lambda"));
    assert_non_null(strstr(err.msg, "lbox build --handler"));
    free(name);
    assert_int_equal(lbox_env_check_user_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &err), -1);
    assert_non_null(strstr(err.msg, "use --memory"));
}

static void test_function_name(void **st)
{
    (void)st;
    struct lbox_error err = {0};
    char n64[65], n65[66];
    memset(n64, 'a', 64);
    n64[64] = 0;
    memset(n65, 'b', 65);
    n65[65] = 0;
    const char *good[] = {"f", "my-function_2", "ABC-xyz", n64};
    const char *bad[] = {"", "my fn/../x", "a.b", "a:b", "$LATEST", "caf\xc3\xa9", n65};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(lbox_env_check_function_name(good[i], &err), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(lbox_env_check_function_name(bad[i], &err), -1);
        assert_non_null(strstr(err.msg, "1 to 64 letters, digits, '-' and '_'"));
    }
    /* The library does not build an environment around a name Lambda would refuse. */
    struct lbox_env_settings s = {.function_name = "my fn/../x", .memory_mb = 128};
    struct lbox_strv out;
    assert_int_equal(lbox_env_build(&s, &out, &err), -1);
    assert_non_null(strstr(err.msg, "'my fn/../x'"));
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
    /* Figures shown elsewhere read as the REPORT line's, even where rounding v*100 would
     * not (652.015 is 652.01499... in binary: "%.2f" gives 652.01). */
    assert_true(lbox_report_shown_ms(652.015) == 652.01);
    assert_true(lbox_report_shown_ms(7.2299999) == 7.23);
    assert_true(lbox_report_shown_ms(0) == 0);
    const char *id = "c793869b-ee49-115b-a5b6-4fd21e8dedac";
    char *s = lbox_report_start(id, NULL);
    assert_string_equal(s, "START RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac Version: $LATEST\n");
    free(s);
    s = lbox_report_end(id);
    assert_string_equal(s, "END RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\n");
    free(s);
    char *arn = lbox_env_runtime_arn("eu-south-1", "7b620fc2");
    s = lbox_report_init_start("nodejs:18.20.8", arn);
    assert_string_equal(s, "INIT_START Runtime Version: nodejs:18.20.8\tRuntime Version ARN: "
                           "arn:aws:lambda:eu-south-1::runtime:7b620fc2\n");
    free(s);
    free(arn);
    assert_null(lbox_env_runtime_arn("us-east-1", NULL));
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

/* A failed environment's REPORT ends with Status (and Error Type), no tab after them; a
 * failed init has its INIT_REPORT line; the type of a posted error is RAPID's. All as in
 * CloudWatch logs of real functions. */
static void test_failure_lines(void **st)
{
    (void)st;
    const char *id = "c793869b-ee49-115b-a5b6-4fd21e8dedac";
    struct lbox_report r = {.request_id = id, .duration_ms = 3000, .memory_mb = 128,
                            .max_memory_bytes = 73u << 20, .init_duration_ms = 402.04,
                            .status = "timeout"};
    char *s = lbox_report_line(&r);
    assert_non_null(strstr(s, "\tMax Memory Used: 73 MB\tInit Duration: 402.04 ms\tStatus: timeout\n"));
    free(s);
    /* Stopped a little past a 3 s timeout: billed 3000 ms, as Lambda bills it. */
    r.duration_ms = 3071.27;
    r.billed_cap_ms = 3000;
    s = lbox_report_line(&r);
    assert_non_null(strstr(s, "\tDuration: 3071.27 ms\tBilled Duration: 3000 ms\t"));
    free(s);
    r.billed_cap_ms = 0;
    r.init_duration_ms = -1;
    r.status = "error";
    r.error_type = "Runtime.ExitError";
    s = lbox_report_line(&r);
    assert_non_null(strstr(s, "\tMax Memory Used: 73 MB\tStatus: error\tError Type: Runtime.ExitError\n"));
    free(s);
    s = lbox_report_init_line(150.794, "init", "error", "Runtime.UserCodeSyntaxError");
    assert_string_equal(s, "INIT_REPORT Init Duration: 150.79 ms\tPhase: init\tStatus: error\t"
                           "Error Type: Runtime.UserCodeSyntaxError\n");
    free(s);
    s = lbox_report_init_line(9999.79, "init", "timeout", NULL);
    assert_string_equal(s, "INIT_REPORT Init Duration: 9999.79 ms\tPhase: init\tStatus: timeout\n");
    free(s);
    assert_string_equal(lbox_platform_error_type("Runtime.ImportModuleError"),
                        "Runtime.ImportModuleError");
    assert_string_equal(lbox_platform_error_type("Error"), "Runtime.Unknown");
    assert_string_equal(lbox_platform_error_type(NULL), "Runtime.Unknown");
    assert_string_equal(lbox_platform_error_type("Runtime.x"), "Runtime.Unknown");
    assert_string_equal(lbox_platform_error_type("Function.oops"), "Function.Unknown");
    assert_string_equal(lbox_platform_error_type("Function.MyError"), "Function.MyError");
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
    char origin[64];
    lbox_event_origin(&ev.v[2], origin, sizeof origin);
    assert_non_null(strstr(origin, "line 3"));
    lbox_event_origin(&ev.v[0], origin, sizeof origin);
    assert_null(strstr(origin, "line"));
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

/* A file or stdin without end (/dev/zero) is refused after a bounded read, not read until
 * memory runs out; what was added before stays. */
static void test_events_endless_input(void **st)
{
    (void)st;
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    assert_int_equal(lbox_events_add_buffer(&ev, "{}", 2, "first", &err), 0);
    assert_int_equal(lbox_events_add_file(&ev, "/dev/zero", &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "/dev/zero holds more than 256 MiB"));
    assert_non_null(strstr(err.msg, "split it"));

    int saved = dup(STDIN_FILENO);
    int zero = open("/dev/zero", O_RDONLY);
    assert_true(saved >= 0 && zero >= 0);
    assert_int_equal(dup2(zero, STDIN_FILENO), STDIN_FILENO);
    memset(&err, 0, sizeof err);
    int rc = lbox_events_add_file(&ev, "-", &err);
    dup2(saved, STDIN_FILENO);
    close(saved);
    close(zero);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "stdin holds more than"));
    assert_int_equal(ev.n, 1);
    lbox_events_free(&ev);
}

/* A JSON-lines file of tiny events is bounded by a count, not by the memory lbox has: one
 * event past LBOX_MAX_EVENTS refuses the file and keeps what came before. */
static void test_events_count_limit(void **st)
{
    (void)st;
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    assert_int_equal(lbox_events_add_buffer(&ev, "{}", 2, "first", &err), 0);
    char path[] = "/tmp/lbox-test-events-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (unsigned i = 0; i < LBOX_MAX_EVENTS; i++) /* with "first", one too many */
        fputs("1\n", f);
    fclose(f);
    assert_int_equal(lbox_events_add_file(&ev, path, &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "more than 1000000 events"));
    assert_non_null(strstr(err.msg, "split them"));
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.v[0].data, "{}");

    /* Exactly the limit fits. */
    lbox_events_free(&ev);
    assert_int_equal(lbox_events_add_file(&ev, path, &err), 0);
    assert_int_equal(ev.n, LBOX_MAX_EVENTS);
    assert_string_equal(ev.v[LBOX_MAX_EVENTS - 1].data, "1");
    assert_int_equal(ev.v[LBOX_MAX_EVENTS - 1].line, (int)LBOX_MAX_EVENTS);
    lbox_events_free(&ev);
    unlink(path);
}

/* stdin is read once: a second "-" says so, instead of calling the drained stdin empty. */
static void test_events_stdin_once(void **st)
{
    (void)st;
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    int saved = dup(STDIN_FILENO);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "{\"a\":1}\n", 8), 8);
    close(p[1]);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    assert_int_equal(lbox_events_add_file(&ev, "-", &err), 0);
    int rc = lbox_events_add_file(&ev, "-", &err);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "stdin can be read only once"));
    assert_int_equal(ev.n, 1);
    lbox_events_free(&ev);
}

/* Valid JSON that jansson cannot hold in C values is still an event, passed as written. */
static void test_events_jansson_cannot_hold(void **st)
{
    (void)st;
    static const char *const valid[] = {
        "{\"s\":\"\\u0000\"}",
        "{\"n\":123456789012345678901234567890}",
        "{\"n\":1e400}",
        "[-1E+999, 1e400, {\"k\": 0.5e-99999}]",
        "\"\\ud800\"",                       /* a lone surrogate: JSON.parse takes it */
        "{\"\\u0000\": 1, \"a\\udc00\": [1e400]}",
        "[\"\\\\u0000\", \"\\\"\", 1e400]",  /* escaped backslash and quote */
        "1e400",
    };
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        if (lbox_events_add_buffer(&ev, valid[i], strlen(valid[i]), "e.json", &err) < 0)
            fail_msg("refused %s: %s", valid[i], err.msg);
        assert_int_equal(ev.v[ev.n - 1].len, strlen(valid[i]));
        assert_memory_equal(ev.v[ev.n - 1].data, valid[i], strlen(valid[i])); /* unchanged */
    }
    lbox_events_free(&ev);

    /* Past a number jansson cannot hold, the rest is still checked, and mistakes are placed
     * where they are. */
    static const struct {
        const char *text, *where;
    } invalid[] = {
        {"{\"n\":1e400,}", "line 1, column 12"},
        {"[1e400 2]", "line 1, column 8"},
        {"[1-1e400]", NULL},        /* two numbers, no comma */
        {"[true1e400]", NULL},
        {"[01e400]", "invalid token"},
        {"[1e400, \"\\ud800\", \"\\x\"]", "column 21: invalid escape"},
        {"[1e400, \"a\nb\"]", NULL}, /* a raw control character in a string */
        {"[1e400, 1e]", NULL},
        {"[1e400, -]", NULL},
        {"{\"a\":1e400}x", NULL},
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        if (lbox_events_add_buffer(&ev, invalid[i].text, strlen(invalid[i].text), "b.json",
                                   &err) == 0)
            fail_msg("accepted %s", invalid[i].text);
        assert_non_null(strstr(err.msg, "event b.json is not valid JSON"));
        if (invalid[i].where && !strstr(err.msg, invalid[i].where))
            fail_msg("%s: expected '%s' in: %s", invalid[i].text, invalid[i].where, err.msg);
    }
    /* A raw NUL byte is not JSON (jansson would take it for the end of the text). */
    assert_int_equal(lbox_events_add_buffer(&ev, "[1\0,2]", 6, "n.json", &err), -1);
    assert_non_null(strstr(err.msg, "NUL byte"));
    assert_int_equal(lbox_events_add_buffer(&ev, "{\"a\":\n1\0}", 9, "n.json", &err), -1);
    assert_non_null(strstr(err.msg, "line 2, column 2"));
    assert_int_equal(ev.n, 0);
}

/* A pretty-printed event with a mistake is one document: the error is where the mistake
 * is, not "line 1" of a JSON-lines reading. JSON lines still name their bad line. */
static void test_events_error_position(void **st)
{
    (void)st;
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    char *pretty = tmpfile_with("{\n  \"id\": 1,\n}\n");
    assert_int_equal(lbox_events_add_file(&ev, pretty, &err), -1);
    char *want = lbox_strdupf("event %s is not valid JSON (line 3, column 1:", pretty);
    if (!strstr(err.msg, want))
        fail_msg("%s", err.msg);
    free(want);

    char *lines = tmpfile_with("{\"n\":1}\n\n  \n{\"n\":1e400}\n{oops\n{\"n\":3}\n");
    assert_int_equal(lbox_events_add_file(&ev, lines, &err), -1);
    /* A line's own column, and what a file of several events is; no second line number. */
    want = lbox_strdupf("event %s line 5 is not valid JSON (column 5: ", lines);
    if (!strstr(err.msg, want) || !strstr(err.msg, "each line is one whole JSON document"))
        fail_msg("%s", err.msg);
    free(want);
    assert_int_equal(ev.n, 0);

    /* A byte order mark is named, not shown as an invisible character. */
    char *bom = tmpfile_with("\xef\xbb\xbf{\"n\":1}\n");
    assert_int_equal(lbox_events_add_file(&ev, bom, &err), -1);
    assert_non_null(strstr(err.msg, "starts with a UTF-8 byte order mark"));
    assert_int_equal(lbox_events_add_buffer(&ev, "\xef\xbb\xbf{}", 5, "stdin", &err), -1);
    assert_non_null(strstr(err.msg, "event stdin starts with a UTF-8 byte order mark"));
    unlink(bom);
    free(bom);

    char *good = tmpfile_with("\n{\"n\":1}\r\n\n[\"\\u0000\"]\n1e400");
    assert_int_equal(lbox_events_add_file(&ev, good, &err), 0);
    assert_int_equal(ev.n, 3);
    assert_string_equal(ev.v[0].data, "{\"n\":1}\r");
    assert_int_equal(ev.v[0].line, 2);
    assert_string_equal(ev.v[2].data, "1e400");
    assert_int_equal(ev.v[2].line, 5);
    lbox_events_free(&ev);

    char *one = tmpfile_with("{\"big\": 1e400,\n \"s\": \"\\u0000\"}\n");
    assert_int_equal(lbox_events_add_file(&ev, one, &err), 0);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.v[0].source, one);
    assert_int_equal(ev.v[0].line, 0);
    lbox_events_free(&ev);
    unlink(pretty); unlink(lines); unlink(good); unlink(one);
    free(pretty); free(lines); free(good); free(one);
}

static void test_sam_env_file(void **st)
{
    (void)st;
    struct lbox_strv u = {0};
    struct lbox_error err = {0};
    char *f = tmpfile_with("{\"Parameters\": {\"AA\": \"global\", \"BB\": 2},"
                           " \"hello\": {\"AA\": \"mine\", \"CC\": true},"
                           " \"other\": {\"DD\": \"not mine\"}}");
    assert_int_equal(lbox_env_file_load(f, "hello", &u, NULL, &err), 0);
    assert_string_equal(lbox_strv_get(&u, "AA"), "mine");
    assert_string_equal(lbox_strv_get(&u, "BB"), "2");
    assert_string_equal(lbox_strv_get(&u, "CC"), "true");
    assert_null(lbox_strv_get(&u, "DD"));
    lbox_strv_free(&u);
    char *flat = tmpfile_with("{\"XX\": \"1\"}");
    assert_int_equal(lbox_env_file_load(flat, "hello", &u, NULL, &err), 0);
    assert_string_equal(lbox_strv_get(&u, "XX"), "1");
    lbox_strv_free(&u);
    char *reserved = tmpfile_with("{\"Parameters\": {\"AWS_REGION\": \"x\"}}");
    assert_int_equal(lbox_env_file_load(reserved, "hello", &u, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "reserved"));
    char *broken = tmpfile_with("{\"Parameters\": ");
    assert_int_equal(lbox_env_file_load(broken, "hello", &u, NULL, &err), -1);
    char *nul = tmpfile_with("{\"Parameters\": {\"A\": \"x\\u0000y\"}}");
    assert_int_equal(lbox_env_file_load(nul, "hello", &u, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "which an environment variable cannot hold"));
    assert_null(strstr(err.msg, "JSON_ALLOW_NUL"));
    unlink(nul);
    free(nul);
    lbox_strv_free(&u);
    /* SAM's form holds objects only: a flat pair among them, or a "Parameters" that is not
     * an object, is refused rather than dropped or taken as a variable. */
    char *mixed = tmpfile_with("{\"FLAT\": \"1\", \"hello\": {\"AA\": \"x\"}}");
    assert_int_equal(lbox_env_file_load(mixed, "hello", &u, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "\"FLAT\" is not an object"));
    char *odd = tmpfile_with("{\"Parameters\": \"x\", \"hello\": {}}");
    assert_int_equal(lbox_env_file_load(odd, "hello", &u, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "\"Parameters\" is not an object"));
    assert_int_equal(u.n, 0);
    /* A file for other functions only: nothing applies, and the note names what it has. */
    char *note = NULL;
    assert_int_equal(lbox_env_file_load(f, "else", &u, &note, &err), 0);
    assert_null(note); /* its "Parameters" apply */
    lbox_strv_free(&u);
    char *others = tmpfile_with("{\"HelloWorldFunction\": {\"AA\": \"x\"}}");
    assert_int_equal(lbox_env_file_load(others, "hello", &u, &note, &err), 0);
    assert_int_equal(u.n, 0);
    assert_non_null(note);
    assert_non_null(strstr(note, "(it has \"HelloWorldFunction\")"));
    assert_non_null(strstr(note, "--function-name"));
    free(note);
    assert_int_equal(lbox_env_file_load(others, "HelloWorldFunction", &u, &note, &err), 0);
    assert_null(note);
    assert_string_equal(lbox_strv_get(&u, "AA"), "x");
    lbox_strv_free(&u);
    unlink(f); unlink(flat); unlink(reserved); unlink(broken); unlink(mixed); unlink(odd);
    unlink(others);
    free(f); free(flat); free(reserved); free(broken); free(mixed); free(odd); free(others);
}

/* An env file is read to a bound, not whole whatever its size; what jansson cannot hold
 * says how to write it; a folder is named as one. */
static void test_sam_env_file_limits(void **st)
{
    (void)st;
    struct lbox_strv u = {0};
    struct lbox_error err = {0};
    assert_int_equal(lbox_env_file_load("/dev/zero", "hello", &u, NULL, &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "more than 1024 KiB"));
    char *big = tmpfile_with("{\"Parameters\": {\"BIG\": 123456789012345678901234}}");
    assert_int_equal(lbox_env_file_load(big, "hello", &u, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "as a string"));
    assert_int_equal(lbox_env_file_load("/tmp", "hello", &u, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "directory"));
    assert_int_equal(u.n, 0);
    lbox_strv_free(&u);
    unlink(big);
    free(big);
}

/* JSON nested past jansson's depth is lbox's limit, said as such, not "not valid JSON". */
static void test_events_depth_limit(void **st)
{
    (void)st;
    struct lbox_events ev = {0};
    struct lbox_error err = {0};
    char deep[6001];
    memset(deep, '[', 3000);
    memset(deep + 3000, ']', 3000);
    deep[6000] = 0;
    assert_int_equal(lbox_events_add_buffer(&ev, deep, 6000, "deep", &err), -1);
    assert_int_equal(err.code, LBOX_E_LIMIT);
    assert_non_null(strstr(err.msg, "deeper than lbox can check"));
    assert_null(strstr(err.msg, "not valid JSON"));
    assert_int_equal(lbox_events_add_buffer(&ev, deep + 1000, 4000, "2000 levels", &err), 0);
    lbox_events_free(&ev);
}

/* Values as sam local invoke --env-vars gives them: Python's str(), true/false, and "" for
 * null, objects and arrays. */
static void test_sam_env_values(void **st)
{
    (void)st;
    static const struct {
        const char *json, *env;
    } cases[] = {
        {"3.14159265358979", "3.14159265358979"}, {"8080.0", "8080.0"},
        {"8080", "8080"},                         {"-42", "-42"},
        {"1e16", "1e+16"},                        {"1E3", "1000.0"},
        {"1e15", "1000000000000000.0"},           {"0.1", "0.1"},
        {"0.0001", "0.0001"},                     {"0.00001", "1e-05"},
        {"-0.0", "-0.0"},                         {"0.0", "0.0"},
        {"1.5e300", "1.5e+300"},                  {"5e-324", "5e-324"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"123456789.125", "123456789.125"},       {"0.30000000000000004", "0.30000000000000004"},
        {"9007199254740993", "9007199254740993"}, {"9007199254740993.0", "9007199254740992.0"},
        /* just above a power of two the shortest digits are not the rounded ones */
        {"8.209073602596753e-289", "8.209073602596753e-289"},
        {"true", "true"},                         {"false", "false"},
        {"null", ""},                             {"{\"Ref\": \"Table\"}", ""},
        {"[1, 2]", ""},                           {"\"text\"", "text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *text = lbox_strdupf("{\"Parameters\": {\"VALUE\": %s}}", cases[i].json);
        char *f = tmpfile_with(text);
        struct lbox_strv u = {0};
        struct lbox_error err = {0};
        if (lbox_env_file_load(f, "hello", &u, NULL, &err) < 0)
            fail_msg("%s: %s", cases[i].json, err.msg);
        const char *got = lbox_strv_get(&u, "VALUE");
        if (!got || strcmp(got, cases[i].env))
            fail_msg("%s gave '%s', SAM gives '%s'", cases[i].json, got ? got : "(unset)",
                     cases[i].env);
        lbox_strv_free(&u);
        unlink(f);
        free(f);
        free(text);
    }
}

/* /opt/extensions is listed inside the image: a layer's `extensions` link, absolute or
 * escaping by `..`, names a folder of the image, never one of the host (whose file names
 * would be started and reported as extensions). */
static void test_extension_names_inside_image(void **state)
{
    (void)state;
    char dir[] = "/tmp/lbox-test-ext-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct lbox_error err = {0};
    char *root = lbox_strdupf("%s/root", dir), *p = NULL;
    p = lbox_strdupf("%s/host/trusted.gpg.d", dir);
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
    free(p);
    p = lbox_strdupf("%s/host/trusted.gpg", dir);
    assert_int_equal(lbox_write_file_atomic(p, "x", 1, 0644, &err), 0);
    free(p);
    p = lbox_strdupf("%s/opt/real/sub", root);
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
    free(p);
    p = lbox_strdupf("%s/opt/real/ext-b", root);
    assert_int_equal(lbox_write_file_atomic(p, "#!/bin/sh", 9, 0755, &err), 0);
    free(p);
    p = lbox_strdupf("%s/opt/real/.ext-a", root);
    assert_int_equal(lbox_write_file_atomic(p, "#!/bin/sh", 9, 0755, &err), 0);
    free(p);
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(rootfd >= 0);
    char *ext = lbox_strdupf("%s/opt/extensions", root);
    char *host = lbox_strdupf("%s/host", dir);
    size_t n = 99;
    char **names;

    /* By `..`: the image's /, which has no extensions folder. */
    assert_int_equal(symlink("../../../host", ext), 0);
    names = env_extension_names(rootfd, &n);
    assert_null(names);
    assert_int_equal(n, 0);

    /* By an absolute host path: no such folder in the image either. */
    assert_int_equal(unlink(ext), 0);
    assert_int_equal(symlink(host, ext), 0);
    names = env_extension_names(rootfd, &n);
    assert_null(names);
    assert_int_equal(n, 0);

    /* An absolute link to a folder of the image: its non-directories, in byte order. */
    assert_int_equal(unlink(ext), 0);
    assert_int_equal(symlink("/opt/real", ext), 0);
    names = env_extension_names(rootfd, &n);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], ".ext-a");
    assert_string_equal(names[1], "ext-b");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);

    /* The disable file is looked for inside the image too. */
    p = lbox_strdupf("%s/opt/disable-extensions-jwigqn8j", root);
    assert_int_equal(symlink("/opt/real/ext-b", p), 0);
    free(p);
    names = env_extension_names(rootfd, &n);
    assert_null(names);
    assert_int_equal(n, 0);

    close(rootfd);
    free(ext);
    free(host);
    free(root);
    lbox_rm_rf(dir, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_variables),
        cmocka_unit_test(test_caller_credentials_and_region),
        cmocka_unit_test(test_user_variables),
        cmocka_unit_test(test_env_arg_form),
        cmocka_unit_test(test_function_name),
        cmocka_unit_test(test_extension_env),
        cmocka_unit_test(test_report_lines),
        cmocka_unit_test(test_failure_lines),
        cmocka_unit_test(test_describe_exit),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_events_endless_input),
        cmocka_unit_test(test_events_count_limit),
        cmocka_unit_test(test_events_stdin_once),
        cmocka_unit_test(test_events_jansson_cannot_hold),
        cmocka_unit_test(test_events_error_position),
        cmocka_unit_test(test_sam_env_file),
        cmocka_unit_test(test_sam_env_file_limits),
        cmocka_unit_test(test_events_depth_limit),
        cmocka_unit_test(test_sam_env_values),
        cmocka_unit_test(test_extension_names_inside_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
