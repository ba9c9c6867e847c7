/* The Packages index and dependency resolution, over tests/fixtures/debian/Packages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "builder/debian_internal.h"
#include "common/fsutil.h"

#define PACKAGES LBOX_SOURCE_DIR "/tests/fixtures/debian/Packages"

static void load(struct lbox_deb_index *idx, const char *arch)
{
    memset(idx, 0, sizeof *idx);
    char *text;
    size_t len;
    struct lbox_error err;
    if (lbox_read_file(PACKAGES, 0, &text, &len, &err) < 0)
        fail_msg("%s", err.msg);
    if (lbox_deb_index_add(idx, text, len, arch, "Packages", &err) < 0)
        fail_msg("%s", err.msg);
    lbox_deb_index_finish(idx);
}

/* The set's names joined by spaces (static buffer). */
static const char *names(const struct lbox_deb_set *s)
{
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, s->pkgs[i].name);
    }
    return buf;
}

static int resolve(const struct lbox_deb_index *idx, const char *arch, const char *const *w,
                   size_t n, struct lbox_deb_set *out, struct lbox_error *err)
{
    return lbox_deb_resolve_index(idx, arch, w, n, "test index", out, err);
}

static void test_index(void **state)
{
    (void)state;
    struct lbox_deb_index idx;
    load(&idx, "amd64");
    const struct lbox_deb_index_pkg *libc = lbox_deb_index_find(&idx, "libc");
    assert_non_null(libc);
    assert_string_equal(libc->version, "2.36-9+deb12u10"); /* the higher of two stanzas */
    assert_int_equal(libc->installed_kb, 12000);
    assert_int_equal(libc->priority, 5);
    const struct lbox_deb_index_pkg *app = lbox_deb_index_find(&idx, "app");
    assert_non_null(app);
    /* continuation lines are folded into one line */
    assert_non_null(strstr(app->depends, "newer-dep"));
    assert_null(strchr(app->depends, '\n'));
    assert_null(lbox_deb_index_find(&idx, "armonly")); /* arm64 only */
    assert_non_null(lbox_deb_index_find(&idx, "old-dep")); /* arch all */
    size_t n;
    const struct lbox_deb_provide *p = lbox_deb_index_providers(&idx, "mta", &n);
    assert_int_equal(n, 2);
    assert_null(p[0].version);
    p = lbox_deb_index_providers(&idx, "libz-virt", &n);
    assert_int_equal(n, 3);
    p = lbox_deb_index_providers(&idx, "nothing", &n);
    assert_int_equal(n, 0);
    lbox_deb_index_free(&idx);

    load(&idx, "arm64");
    assert_non_null(lbox_deb_index_find(&idx, "armonly"));
    assert_null(lbox_deb_index_find(&idx, "app"));
    lbox_deb_index_free(&idx);
}

static void test_index_corrupt(void **state)
{
    (void)state;
    struct lbox_deb_index idx = {0};
    struct lbox_error err;
    char *text = lbox_xstrdup("Package: a\nVersion: 1\nArchitecture: amd64\nFilename: a.deb\nSize: 1\n");
    assert_int_equal(lbox_deb_index_add(&idx, text, strlen(text), "amd64", "Packages.xz", &err), -1);
    assert_int_equal(err.code, LBOX_E_INVAL);
    assert_non_null(strstr(err.msg, "package a"));
    assert_non_null(strstr(err.msg, "SHA256"));
    lbox_deb_index_free(&idx);
}

static void test_closure(void **state)
{
    (void)state;
    struct lbox_deb_index idx;
    load(&idx, "amd64");
    struct lbox_deb_set s;
    struct lbox_error err;
    const char *w[] = {"app"};
    if (resolve(&idx, "amd64", w, 1, &s, &err) < 0)
        fail_msg("%s", err.msg);
    /* libfoo:any >= 1.0 (first alternative); mta → exim (higher Priority than postfix);
     * bash (shell-alt does not exist); awk → mawk (required); newer-dep (old-dep is too new);
     * libz-virt >= 3 → zlib-b (zlib-a provides 2, zlib-c is unversioned); libbar:i386 is a
     * foreign arch → libbar-fallback; libc from Pre-Depends, the newest version. */
    assert_string_equal(names(&s),
                        "app bash exim libbar-fallback libc libfoo mawk newer-dep zlib-b");
    assert_string_equal(s.pkgs[4].version, "2.36-9+deb12u10");
    assert_string_equal(s.pkgs[4].sha256,
                        "0000000000000000000000000000000000000000000000000000000000000002");
    assert_string_equal(s.pkgs[4].filename, "pool/main/g/glibc/libc_2.36-9+deb12u10_amd64.deb");
    assert_int_equal(s.pkgs[4].size, 200);
    lbox_deb_set_free(&s);
    lbox_deb_index_free(&idx);
}

static void test_prefers_selected(void **state)
{
    (void)state;
    struct lbox_deb_index idx;
    load(&idx, "amd64");
    struct lbox_deb_set a, b;
    struct lbox_error err;
    const char *w1[] = {"app", "postfix", "libfoo-compat", "gawk"};
    const char *w2[] = {"gawk", "libfoo-compat", "postfix", "app"};
    assert_int_equal(resolve(&idx, "amd64", w1, 4, &a, &err), 0);
    assert_string_equal(names(&a),
                        "app bash gawk libbar-fallback libc libfoo-compat newer-dep postfix zlib-b");
    /* the order of the wanted list does not matter */
    assert_int_equal(resolve(&idx, "amd64", w2, 4, &b, &err), 0);
    char first[1024];
    strcpy(first, names(&a));
    assert_string_equal(first, names(&b));
    lbox_deb_set_free(&a);
    lbox_deb_set_free(&b);

    /* a wanted virtual name goes to the provider with the highest Priority */
    const char *w3[] = {"libz-virt"};
    assert_int_equal(resolve(&idx, "amd64", w3, 1, &a, &err), 0);
    assert_string_equal(names(&a), "zlib-c");
    lbox_deb_set_free(&a);
    lbox_deb_index_free(&idx);
}

static void test_errors(void **state)
{
    (void)state;
    struct lbox_deb_index idx;
    load(&idx, "amd64");
    struct lbox_deb_set s;
    struct lbox_error err;

    const char *unknown[] = {"bash", "no-such-package"};
    assert_int_equal(resolve(&idx, "amd64", unknown, 2, &s, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "\"no-such-package\""));
    assert_non_null(strstr(err.msg, "test index"));
    assert_null(s.pkgs);

    const char *arm[] = {"needs-arm"};
    assert_int_equal(resolve(&idx, "amd64", arm, 1, &s, &err), -1);
    assert_non_null(strstr(err.msg, "needs-arm 1.0 depends on \"armonly\""));

    const char *newlibc[] = {"needs-new-libc"};
    assert_int_equal(resolve(&idx, "amd64", newlibc, 1, &s, &err), -1);
    assert_non_null(strstr(err.msg, "\"libc (>= 2.37) | libc-ng\""));

    const char *versioned[] = {"bash (>= 1)"};
    assert_int_equal(resolve(&idx, "amd64", versioned, 1, &s, &err), -1);
    assert_int_equal(err.code, LBOX_E_INVAL);
    lbox_deb_index_free(&idx);

    /* the same dependency is met on arm64, where armonly exists */
    load(&idx, "arm64");
    assert_int_equal(resolve(&idx, "arm64", arm, 1, &s, &err), 0);
    assert_string_equal(names(&s), "armonly needs-arm");
    lbox_deb_set_free(&s);
    lbox_deb_index_free(&idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index),    cmocka_unit_test(test_index_corrupt),
        cmocka_unit_test(test_closure),  cmocka_unit_test(test_prefers_selected),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
