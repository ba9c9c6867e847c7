/* Debian version order and dependency operators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "builder/debian_internal.h"

static int sign(int x) { return (x > 0) - (x < 0); }

static void test_order(void **state)
{
    (void)state;
    static const struct { const char *a, *b; int want; } cases[] = {
        {"1.0", "1.0", 0},
        {"1.0", "1.0-0", 0},           /* missing revision equals "0" */
        {"1.00", "1.0", 0},            /* digits compare as numbers */
        {"1.2", "1.10", -1},
        {"1.0~rc1", "1.0", -1},        /* '~' sorts before the end */
        {"1.0~rc1", "1.0~rc2", -1},
        {"1.0~~", "1.0~", -1},
        {"1.0a", "1.0", 1},            /* letters after the end */
        {"1.0a", "1.0+", -1},          /* letters before other characters */
        {"1:0.1", "2.0", 1},           /* epoch wins */
        {"2:6.2.1+dfsg1-1.1", "2:6.2.1+dfsg1-1", 1},
        {"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
        {"2.36-9", "2.36-9+deb12u1", -1},
        {"5.2.15-2+b2", "5.2.15-2", 1},
        {"1.0-1", "1.0-1~bpo1", 1},
        {"10.42-1", "9.99-1", 1},
        {"99999999999999999999", "99999999999999999998", 1}, /* no overflow */
        {"1-2-3", "1-2-4", -1},        /* revision is after the last '-' */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = sign(lbox_deb_version_cmp(cases[i].a, cases[i].b));
        if (got != cases[i].want)
            fail_msg("cmp(%s, %s) = %d, want %d", cases[i].a, cases[i].b, got, cases[i].want);
        int back = sign(lbox_deb_version_cmp(cases[i].b, cases[i].a));
        if (back != -cases[i].want)
            fail_msg("cmp(%s, %s) = %d, want %d", cases[i].b, cases[i].a, back, -cases[i].want);
    }
}

static void test_operators(void **state)
{
    (void)state;
    assert_int_equal(lbox_deb_version_satisfies("2.36-9", ">=", "2.34"), 1);
    assert_int_equal(lbox_deb_version_satisfies("2.33", ">=", "2.34"), 0);
    assert_int_equal(lbox_deb_version_satisfies("2.34", "<=", "2.34"), 1);
    assert_int_equal(lbox_deb_version_satisfies("2.34", ">>", "2.34"), 0);
    assert_int_equal(lbox_deb_version_satisfies("2.35", ">>", "2.34"), 1);
    assert_int_equal(lbox_deb_version_satisfies("2.34", "<<", "2.34"), 0);
    assert_int_equal(lbox_deb_version_satisfies("2.33", "<<", "2.34"), 1);
    assert_int_equal(lbox_deb_version_satisfies("1:1.0", "=", "1:1.0-0"), 1);
    assert_int_equal(lbox_deb_version_satisfies("1.0", "=", "1.1"), 0);
    assert_int_equal(lbox_deb_version_satisfies("1.0", "<", "1.0"), 1); /* obsolete: <= */
    assert_int_equal(lbox_deb_version_satisfies("1.0", "!=", "1.0"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_operators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
