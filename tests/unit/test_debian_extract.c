/* .deb extraction: name mapping into a merged-/usr root, symlink retargeting, and hostile
 * packages (escaping names, device nodes, symlink tricks, corrupt files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/debian_internal.h"
#include "test_debian_fixture.h"

static char tmp[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    strcpy(tmp, "/tmp/lbox-test-debian-extract.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    struct lbox_error err;
    return lbox_rm_rf(tmp, &err);
}

static void expect_map(const char *name, int rc, const char *want)
{
    char *out = NULL;
    int got = lbox_deb_map_path(name, &out);
    if (got != rc)
        fail_msg("map(%s) = %d, want %d", name, got, rc);
    if (rc == 0 && strcmp(out, want) != 0)
        fail_msg("map(%s) = %s, want %s", name, out, want);
    free(out);
}

static void test_map_path(void **state)
{
    (void)state;
    expect_map("./bin/bash", 0, "usr/bin/bash");
    expect_map("./sbin/ldconfig", 0, "usr/sbin/ldconfig");
    expect_map("./lib/x86_64-linux-gnu/libc.so.6", 0, "usr/lib/x86_64-linux-gnu/libc.so.6");
    expect_map("./lib64/ld-linux-x86-64.so.2", 0, "usr/lib64/ld-linux-x86-64.so.2");
    expect_map("./libexec/x", 0, "libexec/x");              /* not under lib/ */
    expect_map("./usr/bin/env", 0, "usr/bin/env");
    expect_map("./etc/bash.bashrc", 0, "etc/bash.bashrc");
    expect_map("./", 1, NULL);
    expect_map(".", 1, NULL);
    expect_map("./lib64/", 1, NULL);                         /* the merged dirs are ours */
    expect_map("./usr/bin/", 1, NULL);
    expect_map("./usr/share/doc/bash/changelog.gz", 1, NULL);
    expect_map("./usr/share/doc/bash", 0, "usr/share/doc/bash"); /* holds copyright */
    expect_map("./usr/share/doc/bash/examples/", 1, NULL);
    expect_map("./usr/share/doc/bash/copyright", 0, "usr/share/doc/bash/copyright");
    expect_map("./usr/share/doc-base/bash", 0, "usr/share/doc-base/bash");
    expect_map("./usr/share/man/man1/bash.1.gz", 1, NULL);
    expect_map("./usr/share/info/bash.info.gz", 1, NULL);
    expect_map("./usr/share/locale/de/LC_MESSAGES/bash.mo", 1, NULL);
    expect_map("./usr/share/zoneinfo/UTC", 0, "usr/share/zoneinfo/UTC");
    expect_map("./usr/share/ca-certificates/mozilla/x.crt", 0, "usr/share/ca-certificates/mozilla/x.crt");
    expect_map("./usr/..hidden", 0, "usr/..hidden");
    expect_map("/etc/passwd", -1, NULL);
    expect_map(".//etc/passwd", 0, "etc/passwd");
    expect_map("./../escape", -1, NULL);
    expect_map("./usr/../../escape", -1, NULL);
    expect_map("..", -1, NULL);
}

static void expect_link(const char *orig, const char *mapped, const char *target, const char *want)
{
    char *got = lbox_deb_map_symlink(orig, mapped, target);
    if (strcmp(got, want) != 0)
        fail_msg("retarget(%s -> %s) = %s, want %s", orig, target, got, want);
    free(got);
}

static void test_map_symlink(void **state)
{
    (void)state;
    expect_link("bin/sh", "usr/bin/sh", "dash", "dash");
    expect_link("lib64/ld.so", "usr/lib64/ld.so", "/lib/x86_64-linux-gnu/ld.so", "/lib/x86_64-linux-gnu/ld.so");
    expect_link("sbin/foo", "usr/sbin/foo", "../usr/sbin/foo", "foo");
    expect_link("lib/x/libz.so", "usr/lib/x/libz.so", "../../usr/lib/y/libz.so.1", "../y/libz.so.1");
    expect_link("lib/a/b", "usr/lib/a/b", "../../bin/x", "../../bin/x"); /* bin/x is usr/bin/x */
    expect_link("bin/x", "usr/bin/x", "../etc/x.conf", "../../etc/x.conf");
    expect_link("usr/share/zoneinfo/posix/Africa", "usr/share/zoneinfo/posix/Africa", "../Africa", "../Africa");
    expect_link("bin/self", "usr/bin/self", "../bin", ".");
}

static char *path_in(const char *rel)
{
    return lbox_path_join(tmp, rel);
}

static int extract(const struct fx_entry *ents, size_t n, struct lbox_error *err)
{
    char *deb = path_in("p.deb");
    char sha[65];
    size_t size;
    fx_deb(deb, "p", ents, n, sha, &size);
    char *root = path_in("root");
    struct lbox_error e2;
    if (lbox_mkdir_p(root, 0755, &e2) < 0 || lbox_deb_merged_usr(root, &e2) < 0)
        fail_msg("%s", e2.msg);
    int rc = lbox_deb_extract(deb, root, "package p", err);
    free(deb);
    free(root);
    return rc;
}

static void test_good_package(void **state)
{
    (void)state;
    const struct fx_entry ents[] = {
        {"./", 'd', NULL},
        {"./bin/", 'd', NULL},
        {"./bin/tool", 'f', "#!/bin/sh\necho tool\n"},
        {"./bin/tool2", 'h', "./bin/tool"},
        {"./sbin/", 'd', NULL},
        {"./sbin/tool-admin", 'l', "../usr/sbin/real-admin"},
        {"./usr/share/doc/p/", 'd', NULL},
        {"./usr/share/doc/p/copyright", 'f', "licence"},
        {"./usr/share/doc/p/changelog.gz", 'f', "xx"},
        {"./usr/share/man/man1/tool.1.gz", 'f', "xx"},
    };
    struct lbox_error err;
    mode_t old_umask = umask(077); /* modes must come from the packages, not the builder */
    int rc = extract(ents, sizeof ents / sizeof ents[0], &err);
    umask(old_umask);
    if (rc < 0)
        fail_msg("%s", err.msg);
    char buf[256];
    char *p = path_in("root/usr/bin/tool");
    struct stat st, st2;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    free(p);
    p = path_in("root/bin/tool"); /* through the merged link */
    assert_int_equal(access(p, X_OK), 0);
    free(p);
    p = path_in("root/usr/bin/tool2");
    assert_int_equal(stat(p, &st2), 0);
    assert_true(st.st_ino == st2.st_ino); /* still one file */
    free(p);
    p = path_in("root/usr/sbin/tool-admin");
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "real-admin");
    free(p);
    p = path_in("root/bin");
    n = readlink(p, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "usr/bin");
    free(p);
    p = path_in("root/usr/share/doc/p/copyright");
    assert_int_equal(access(p, F_OK), 0);
    free(p);
    static const char *const dirs[] = {"root/usr/bin", "root/usr/lib64", "root/usr/share/doc/p"};
    for (size_t i = 0; i < 3; i++) {
        p = path_in(dirs[i]);
        assert_int_equal(stat(p, &st), 0);
        if ((st.st_mode & 07777) != 0755)
            fail_msg("%s has mode %o", dirs[i], st.st_mode & 07777);
        free(p);
    }
    p = path_in("root/usr/share/doc/p/changelog.gz");
    assert_int_equal(access(p, F_OK), -1);
    free(p);
    p = path_in("root/usr/share/man");
    assert_int_equal(access(p, F_OK), -1);
    free(p);
}

static void expect_refused(const struct fx_entry *ents, size_t n, const char *needle)
{
    struct lbox_error err = {0};
    assert_int_equal(extract(ents, n, &err), -1);
    assert_int_equal(err.code, LBOX_E_ARCHIVE);
    assert_non_null(strstr(err.msg, "package p"));
    if (needle && !strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_hostile(void **state)
{
    (void)state;
    const struct fx_entry dotdot[] = {{"./../escaped", 'f', "x"}};
    expect_refused(dotdot, 1, "../escaped");
    char *outside = path_in("escaped");
    assert_int_equal(access(outside, F_OK), -1);
    free(outside);

    const struct fx_entry abs[] = {{"/abs-file", 'f', "x"}};
    expect_refused(abs, 1, "/abs-file");

    const struct fx_entry dev[] = {{"./dev/null", 'c', NULL}};
    expect_refused(dev, 1, "./dev/null");

    /* a symlink to a directory outside the root, then a file through it */
    char *target = path_in("outside");
    struct lbox_error err;
    assert_int_equal(lbox_mkdir_p(target, 0755, &err), 0);
    const struct fx_entry trick[] = {{"./etc/", 'd', NULL}, {"./etc/evil", 'l', target},
                                     {"./etc/evil/planted", 'f', "x"}};
    expect_refused(trick, 3, "planted");
    char *planted = path_in("outside/planted");
    assert_int_equal(access(planted, F_OK), -1);
    free(planted);
    free(target);

    const struct fx_entry hard[] = {{"./etc/h", 'h', "/etc/passwd"}};
    expect_refused(hard, 1, "/etc/passwd");
}

static void test_not_a_deb(void **state)
{
    (void)state;
    char *root = path_in("root2");
    char *junk = path_in("junk.deb");
    struct lbox_error err = {0};
    assert_int_equal(lbox_mkdir_p(root, 0755, &err), 0);
    fx_write(junk, "this is not an ar archive at all, just text\n");
    assert_int_equal(lbox_deb_extract(junk, root, "package junk", &err), -1);
    assert_int_equal(err.code, LBOX_E_ARCHIVE);
    assert_non_null(strstr(err.msg, "package junk"));

    /* a valid ar without data.tar */
    struct archive *a = archive_write_new();
    archive_write_set_format_ar_svr4(a);
    assert_int_equal(archive_write_open_filename(a, junk), ARCHIVE_OK);
    fx_ar_member(a, "debian-binary", "2.0\n", 4);
    archive_write_close(a);
    archive_write_free(a);
    assert_int_equal(lbox_deb_extract(junk, root, "package junk", &err), -1);
    assert_non_null(strstr(err.msg, "no data.tar"));

    /* a truncated .deb */
    char *deb = path_in("t.deb");
    char sha[65];
    size_t size;
    const struct fx_entry ents[] = {{"./usr/bin/big", 'f',
                                     "0123456789012345678901234567890123456789012345678901234567890123456789"}};
    fx_deb(deb, "t", ents, 1, sha, &size);
    assert_int_equal(truncate(deb, (off_t)size - 40), 0);
    assert_int_equal(lbox_deb_extract(deb, root, "package t", &err), -1);
    assert_int_equal(err.code, LBOX_E_ARCHIVE);
    free(deb);
    free(junk);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_path),
        cmocka_unit_test(test_map_symlink),
        cmocka_unit_test_setup_teardown(test_good_package, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_deb, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
