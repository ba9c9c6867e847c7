/* lbox invoke's command line: what --help documents as a bad command line exits 2 with a
 * message naming the argument, before any image is looked up. The command is compiled in
 * here (the CLI is not a library), so its exit status is asserted as main() returns it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cmd_invoke.c"
#include "cli/invoke_output.c"
#include "cli/output.c"

static char stderr_text[4096];

/* Runs `lbox invoke ARGS...` and returns its exit status; its stderr goes to stderr_text. */
static int invoke(const char *first, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = strdup("invoke");
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = strdup(a);
    va_end(ap);
    argv[argc] = NULL;

    char path[] = "/tmp/lbox-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    int rc = cmd_invoke(argc, argv);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, stderr_text, sizeof stderr_text - 1, 0);
    stderr_text[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return rc;
}

static void expect_usage(int rc, const char *needle)
{
    if (rc != 2 || !strstr(stderr_text, needle))
        fail_msg("exit %d (want 2), stderr without \"%s\": %s", rc, needle, stderr_text);
}

static void test_env_arg_is_checked(void **st)
{
    (void)st;
    expect_usage(invoke("img:latest", "--env", "NOEQ", NULL), "--env 'NOEQ': expected NAME=value");
    expect_usage(invoke("img:latest", "--env", "1A=x", NULL), "--env '1A=x'");
    expect_usage(invoke("img:latest", "--env", "OK=1", "--env", "=x", NULL), "--env '=x'");
    /* A name Lambda reserves is a bad argument too; a look-alike is not. */
    expect_usage(invoke("img:latest", "--env", "AWS_REGION=mars-1", NULL),
                 "AWS_REGION is reserved");
    expect_usage(invoke("img:latest", "--env", "OK=1", "--env", "LAMBDA_TASK_ROOT=/x", NULL),
                 "LAMBDA_TASK_ROOT is reserved");
    int rc = invoke("no-such-image:latest", "--env", "AWS_REGIONS=x", NULL);
    if (rc != 1 || !strstr(stderr_text, "no image"))
        fail_msg("exit %d: %s", rc, stderr_text);
}

static void test_function_name_is_checked(void **st)
{
    (void)st;
    char long_name[66];
    memset(long_name, 'f', 65);
    long_name[65] = 0;
    expect_usage(invoke("img:latest", "--function-name", "my fn/../x", NULL),
                 "--function-name: function name 'my fn/../x' is not valid");
    expect_usage(invoke("img:latest", "--function-name", "", NULL), "function name ''");
    expect_usage(invoke("img:latest", "--function-name", long_name, NULL), "1 to 64");
    /* The longest name Lambda takes gets past the command line (to the missing image). */
    long_name[64] = 0;
    int rc = invoke("no-such-image:latest", "--function-name", long_name, NULL);
    if (rc != 1 || !strstr(stderr_text, "no image"))
        fail_msg("exit %d: %s", rc, stderr_text);
}

int main(void)
{
    /* Nothing here may reach a real store: an invoke that gets past its checks finds an
     * empty one. */
    char dir[] = "/tmp/lbox-test-cmd-invoke-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    setenv("XDG_DATA_HOME", dir, 1);
    setenv("XDG_CACHE_HOME", dir, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_arg_is_checked),
        cmocka_unit_test(test_function_name_is_checked),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    char *rm = lbox_strdupf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        r = 1;
    free(rm);
    return r;
}
