/* deb822 stanzas, Release files, and the mirror choice from flag / env / apt sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "builder/debian_internal.h"

#define FIXTURES LBOX_SOURCE_DIR "/tests/fixtures/debian"

static void test_stanzas(void **state)
{
    (void)state;
    const char *text = "# leading comment\n\n"
                       "Package: a\n"
                       "depends: b,\n c (>= 1)\n"
                       "Description: first\n second\n .\n third   \n"
                       "\n\n"
                       "Package: z\r\n"
                       "Empty:\n";
    struct lbox_deb822 r;
    struct lbox_deb822_field f;
    struct lbox_error err;
    lbox_deb822_init(&r, text, strlen(text));

    assert_true(lbox_deb822_next_stanza(&r));
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 1);
    assert_true(lbox_deb822_is(&f, "PACKAGE")); /* names are case-insensitive */
    assert_int_equal(f.line, 3);
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 1);
    assert_true(lbox_deb822_is(&f, "Depends"));
    char *v = lbox_deb822_value_dup(&f);
    assert_string_equal(v, "b,\nc (>= 1)");
    free(v);
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 1);
    v = lbox_deb822_value_dup(&f);
    assert_string_equal(v, "first\nsecond\n.\nthird");
    free(v);
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 0);

    assert_true(lbox_deb822_next_stanza(&r));
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 1);
    assert_int_equal(f.value_len, 1); /* "\r" is not part of the value */
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 1);
    assert_true(lbox_deb822_is(&f, "Empty"));
    assert_int_equal(f.value_len, 0);
    assert_int_equal(lbox_deb822_next_field(&r, &f, "t", &err), 0);
    assert_false(lbox_deb822_next_stanza(&r));
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {"Package: a\nno colon here\n", "Package: a\n: empty name\n",
                                      " continuation first\n", "Pack age: a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lbox_deb822 r;
        struct lbox_deb822_field f;
        struct lbox_error err = {0};
        lbox_deb822_init(&r, bad[i], strlen(bad[i]));
        assert_true(lbox_deb822_next_stanza(&r));
        int rc;
        while ((rc = lbox_deb822_next_field(&r, &f, "Packages", &err)) == 1)
            ;
        assert_int_equal(rc, -1);
        assert_int_equal(err.code, LBOX_E_INVAL);
        assert_non_null(strstr(err.msg, "Packages line "));
    }
}

static const char release[] =
    "Origin: Debian\nSuite: stable\nCodename: bookworm\nAcquire-By-Hash: yes\n"
    "Architectures: all amd64 arm64\nComponents: main contrib\n"
    "MD5Sum:\n 0123456789abcdef0123456789abcdef 10 main/binary-amd64/Packages.xz\n"
    "SHA256:\n"
    " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1234 main/binary-amd64/Packages\n"
    " bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 99 main/binary-amd64/Packages.xz\n";

static void test_release(void **state)
{
    (void)state;
    struct lbox_deb_release rel;
    struct lbox_error err;
    assert_int_equal(lbox_deb_release_parse(release, strlen(release), "Release", &rel, &err), 0);
    assert_string_equal(rel.codename, "bookworm");
    assert_string_equal(rel.architectures, "all amd64 arm64");
    assert_true(rel.by_hash);
    char hex[65];
    uint64_t size = 0;
    assert_int_equal(lbox_deb_release_lookup(&rel, "main/binary-amd64/Packages.xz", hex, &size), 1);
    assert_int_equal(size, 99);
    assert_string_equal(hex, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    /* upper-case hex is normalised: the fetcher compares lowercase */
    assert_int_equal(lbox_deb_release_lookup(&rel, "main/binary-amd64/Packages", hex, &size), 1);
    assert_string_equal(hex, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(lbox_deb_release_lookup(&rel, "main/binary-arm64/Packages.xz", hex, &size), 0);
    lbox_deb_release_free(&rel);

    const char *nosha = "Suite: stable\nMD5Sum:\n 00 1 x\n";
    assert_int_equal(lbox_deb_release_parse(nosha, strlen(nosha), "R", &rel, &err), -1);
    assert_non_null(strstr(err.msg, "no SHA256"));

    const char *badsha = "Suite: stable\nSHA256:\n xyz 1 main/binary-amd64/Packages.xz\n";
    assert_int_equal(lbox_deb_release_parse(badsha, strlen(badsha), "R", &rel, &err), 0);
    assert_int_equal(lbox_deb_release_lookup(&rel, "main/binary-amd64/Packages.xz", hex, &size), -1);
    lbox_deb_release_free(&rel);
}

static void test_apt_one_line(void **state)
{
    (void)state;
    char *m = NULL;
    struct lbox_error err;
    assert_int_equal(lbox_debian_mirror_from_apt(FIXTURES "/apt-oneline", "bookworm", &m, &err), 0);
    assert_string_equal(m, "http://mirror.example/debian"); /* options skipped, slash trimmed */
    free(m);
    assert_int_equal(lbox_debian_mirror_from_apt(FIXTURES "/apt-oneline", "bullseye", &m, &err), 0);
    assert_string_equal(m, "http://other.example/debian");
    free(m);
}

static void test_apt_deb822(void **state)
{
    (void)state;
    char *m = NULL;
    struct lbox_error err;
    /* sources.list is absent; 05-*.list.save is not an apt name; Enabled: no and deb-src
     * stanzas are skipped; the cdrom: URI is skipped for the https one after it. */
    assert_int_equal(lbox_debian_mirror_from_apt(FIXTURES "/apt-deb822", "bookworm", &m, &err), 0);
    assert_string_equal(m, "https://deb822.example/debian");
    free(m);
    /* files are read in name order: 00-other.list comes first for bookworm-updates */
    assert_int_equal(lbox_debian_mirror_from_apt(FIXTURES "/apt-deb822", "bookworm-updates", &m, &err), 0);
    assert_string_equal(m, "http://other.example/debian");
    free(m);
    assert_int_equal(lbox_debian_mirror_from_apt(FIXTURES "/apt-none", "bookworm", &m, &err), 1);
    assert_int_equal(lbox_debian_mirror_from_apt(FIXTURES "/does-not-exist", "bookworm", &m, &err), 1);
}

static void test_pick_precedence(void **state)
{
    (void)state;
    char *m = NULL;
    struct lbox_error err;
    setenv("LBOX_DEBIAN_MIRROR", "file:///srv/env-mirror/", 1);
    assert_int_equal(lbox_debian_pick_mirror("http://flag.example/debian/", "bookworm", &m, &err), 0);
    assert_string_equal(m, "http://flag.example/debian");
    free(m);
    assert_int_equal(lbox_debian_pick_mirror(NULL, "bookworm", &m, &err), 0);
    assert_string_equal(m, "file:///srv/env-mirror");
    free(m);
    assert_int_equal(lbox_debian_pick_mirror("", "bookworm", &m, &err), 0); /* empty flag = unset */
    assert_string_equal(m, "file:///srv/env-mirror");
    free(m);
    assert_int_equal(lbox_debian_pick_mirror("not a url", "bookworm", &m, &err), -1);
    assert_int_equal(err.code, LBOX_E_INVAL);
    assert_non_null(strstr(err.msg, "--debian-mirror"));
    unsetenv("LBOX_DEBIAN_MIRROR");
    /* No host has apt sources for this suite: the error names both ways to give one. */
    assert_int_equal(lbox_debian_pick_mirror(NULL, "no-such-suite-lbox", &m, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "--debian-mirror"));
    assert_non_null(strstr(err.msg, "LBOX_DEBIAN_MIRROR"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stanzas),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_release),       cmocka_unit_test(test_apt_one_line),
        cmocka_unit_test(test_apt_deb822),    cmocka_unit_test(test_pick_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
