/* The Debian source end to end against a tiny archive generated here and served as
 * file:// through the real fetcher: Release → Packages.xz → resolve → .debs → root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/debian.h"
#include "test_debian_fixture.h"

static char tmp[PATH_MAX];
static char mirror[PATH_MAX + 16];
static struct lbox_fetcher fetcher;

static char *at(const char *rel) { return lbox_path_join(tmp, rel); }

static void mkdirs(const char *rel)
{
    char *p = at(rel);
    struct lbox_error err;
    if (lbox_mkdir_p(p, 0755, &err) < 0)
        fail_msg("%s", err.msg);
    free(p);
}

struct built { char sha[65]; size_t size; };

static void make_deb(const char *pool, const char *pkg, const struct fx_entry *e, size_t n,
                     struct built *b)
{
    char *p = at(pool);
    fx_deb(p, pkg, e, n, b->sha, &b->size);
    free(p);
}

/* Writes Packages.xz and a Release listing it (by-hash copy too when by_hash). */
static void publish(const char *packages, bool by_hash)
{
    mkdirs("mirror/dists/bookworm/main/binary-amd64");
    char *xz = at("mirror/dists/bookworm/main/binary-amd64/Packages.xz");
    fx_xz_file(xz, packages);
    char hex[65];
    struct lbox_error err;
    assert_int_equal(lbox_sha256_file(xz, hex, &err), 0);
    struct stat st;
    stat(xz, &st);
    if (by_hash) {
        mkdirs("mirror/dists/bookworm/main/binary-amd64/by-hash/SHA256");
        char *rel = lbox_strdupf("mirror/dists/bookworm/main/binary-amd64/by-hash/SHA256/%s", hex);
        char *dst = at(rel);
        assert_int_equal(lbox_copy_file(xz, dst, &err), 0);
        unlink(xz); /* only the by-hash name exists: proves it is used */
        free(rel);
        free(dst);
    }
    char *release = lbox_strdupf(
        "Origin: Test\nSuite: stable\nCodename: bookworm\n%s"
        "Architectures: amd64\nComponents: main\n"
        "SHA256:\n %s %lld main/binary-amd64/Packages.xz\n",
        by_hash ? "Acquire-By-Hash: yes\n" : "", hex, (long long)st.st_size);
    char *rp = at("mirror/dists/bookworm/Release");
    fx_write(rp, release);
    free(rp);
    free(release);
    free(xz);
}

static char *stanza(const char *name, const char *deps, const char *pool, const struct built *b)
{
    return lbox_strdupf("Package: %s\nVersion: 1.0-1\nArchitecture: amd64\n%s%s%s"
                        "Installed-Size: 4\nFilename: %s\nSize: %zu\nSHA256: %s\n\n",
                        name, deps ? "Depends: " : "", deps ? deps : "", deps ? "\n" : "",
                        pool, b->size, b->sha);
}

static struct built tool, libdep;
static char *packages_text;

static int setup(void **state)
{
    (void)state;
    strcpy(tmp, "/tmp/lbox-test-debian-repo.XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    snprintf(mirror, sizeof mirror, "file://%s/mirror", tmp);
    struct lbox_error err;
    if (lbox_fetcher_init(&fetcher, &err) < 0)
        return -1;
    free(fetcher.cache_dir);
    fetcher.cache_dir = at("cache");
    fetcher.progress = false;
    fetcher.retries = 0;

    mkdirs("mirror/pool/main/t/tool");
    mkdirs("mirror/pool/main/libd/libdep");
    const struct fx_entry tool_files[] = {
        {"./", 'd', NULL},
        {"./bin/", 'd', NULL},
        {"./bin/tool", 'f', "#!/bin/sh\necho tool\n"},
        {"./etc/", 'd', NULL},
        {"./etc/tool.conf", 'f', "verbose=1\n"},
        {"./usr/share/doc/tool/copyright", 'f', "licence text\n"},
        {"./usr/share/doc/tool/changelog.Debian.gz", 'f', "log"},
        {"./usr/share/man/man1/tool.1.gz", 'f', "man"},
    };
    make_deb("mirror/pool/main/t/tool/tool_1.0-1_amd64.deb", "tool", tool_files,
             sizeof tool_files / sizeof tool_files[0], &tool);
    const struct fx_entry lib_files[] = {
        {"./lib/x86_64-linux-gnu/libdep.so.1", 'f', "ELF-ish"},
        {"./lib/x86_64-linux-gnu/libdep.so", 'l', "libdep.so.1"},
        {"./usr/lib/x86_64-linux-gnu/libdep-compat.so", 'l', "../../../lib/x86_64-linux-gnu/libdep.so.1"},
    };
    make_deb("mirror/pool/main/libd/libdep/libdep1_1.0-1_amd64.deb", "libdep1", lib_files,
             sizeof lib_files / sizeof lib_files[0], &libdep);
    char *a = stanza("tool", "libdep1 (>= 1.0) | libdep-ng", "pool/main/t/tool/tool_1.0-1_amd64.deb", &tool);
    char *b = stanza("libdep1", NULL, "pool/main/libd/libdep/libdep1_1.0-1_amd64.deb", &libdep);
    packages_text = lbox_strdupf("%s%s", a, b);
    free(a);
    free(b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lbox_fetcher_free(&fetcher);
    free(packages_text);
    struct lbox_error err;
    return lbox_rm_rf(tmp, &err);
}

static struct lbox_deb_source source(char *arch)
{
    static char *comps[] = {"main"};
    return (struct lbox_deb_source){mirror, "bookworm", comps, 1, arch};
}

static void assert_file(const char *rel, const char *content)
{
    char *p = at(rel);
    char *data = NULL;
    size_t len;
    struct lbox_error err;
    if (lbox_read_file(p, 0, &data, &len, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(data, content);
    free(data);
    free(p);
}

static void assert_absent(const char *rel)
{
    char *p = at(rel);
    struct stat st;
    if (lstat(p, &st) == 0)
        fail_msg("%s should not exist", rel);
    free(p);
}

static void check_resolve_install(bool by_hash)
{
    publish(packages_text, by_hash);
    struct lbox_deb_source src = source("amd64");
    struct lbox_deb_set set;
    struct lbox_error err = {0};
    const char *wanted[] = {"tool"};
    if (lbox_debian_resolve(&fetcher, &src, wanted, 1, 3600, &set, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(set.n, 2);
    assert_string_equal(set.pkgs[0].name, "libdep1"); /* sorted by name */
    assert_string_equal(set.pkgs[1].name, "tool");
    assert_string_equal(set.pkgs[1].sha256, tool.sha);

    char *root = at(by_hash ? "root-byhash" : "root");
    if (lbox_debian_install(&fetcher, &src, &set, root, &err) < 0)
        fail_msg("%s", err.msg);
    const char *r = by_hash ? "root-byhash/" : "root/";
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%susr/bin/tool", r);
    assert_file(buf, "#!/bin/sh\necho tool\n");
    snprintf(buf, sizeof buf, "%sbin/tool", r); /* merged /usr */
    assert_file(buf, "#!/bin/sh\necho tool\n");
    snprintf(buf, sizeof buf, "%setc/tool.conf", r);
    assert_file(buf, "verbose=1\n");
    snprintf(buf, sizeof buf, "%susr/lib/x86_64-linux-gnu/libdep.so", r);
    assert_file(buf, "ELF-ish");
    snprintf(buf, sizeof buf, "%susr/lib/x86_64-linux-gnu/libdep-compat.so", r);
    assert_file(buf, "ELF-ish"); /* through ../../../lib and the lib link */
    snprintf(buf, sizeof buf, "%susr/share/doc/tool/copyright", r);
    assert_file(buf, "licence text\n");
    snprintf(buf, sizeof buf, "%susr/share/doc/tool/changelog.Debian.gz", r);
    assert_absent(buf);
    snprintf(buf, sizeof buf, "%susr/share/man", r);
    assert_absent(buf);

    snprintf(buf, sizeof buf, "%svar/lib/lbox/packages.txt", r);
    char *manifest = at(buf);
    assert_int_equal(lbox_deb_set_write_manifest(&set, manifest, &err), 0);
    char *want = lbox_strdupf("libdep1 1.0-1 amd64 %s\ntool 1.0-1 amd64 %s\n", libdep.sha, tool.sha);
    assert_file(buf, want);
    free(want);
    free(manifest);
    free(root);
    lbox_deb_set_free(&set);
}

static void test_plain(void **state)
{
    (void)state;
    check_resolve_install(false);

    /* offline, everything comes from the cache */
    fetcher.offline = true;
    struct lbox_deb_source src = source("amd64");
    struct lbox_deb_set set;
    struct lbox_error err;
    const char *wanted[] = {"tool"};
    if (lbox_debian_resolve(&fetcher, &src, wanted, 1, 3600, &set, &err) < 0)
        fail_msg("%s", err.msg);
    fetcher.offline = false;
    assert_int_equal(set.n, 2);
    lbox_deb_set_free(&set);
}

static void test_by_hash(void **state)
{
    (void)state;
    check_resolve_install(true);
}

static void test_index_digest_mismatch(void **state)
{
    (void)state;
    publish(packages_text, false);
    /* the index changes after Release listed it */
    char *xz = at("mirror/dists/bookworm/main/binary-amd64/Packages.xz");
    char *tampered = lbox_strdupf("%sPackage: evil\n", packages_text);
    fx_xz_file(xz, tampered);
    free(tampered);
    free(xz);
    struct lbox_deb_source src = source("amd64");
    struct lbox_deb_set set;
    struct lbox_error err = {0};
    const char *wanted[] = {"tool"};
    assert_int_equal(lbox_debian_resolve(&fetcher, &src, wanted, 1, 3600, &set, &err), -1);
    assert_int_equal(err.code, LBOX_E_DIGEST);
    assert_non_null(strstr(err.msg, "Packages.xz"));
    assert_non_null(strstr(err.msg, "expected sha256:"));
}

static void test_deb_digest_mismatch(void **state)
{
    (void)state;
    publish(packages_text, false);
    struct lbox_deb_source src = source("amd64");
    struct lbox_deb_set set;
    struct lbox_error err = {0};
    const char *wanted[] = {"tool"};
    assert_int_equal(lbox_debian_resolve(&fetcher, &src, wanted, 1, 3600, &set, &err), 0);
    /* swap the .deb for another one on the mirror */
    const struct fx_entry evil[] = {{"./bin/tool", 'f', "evil"}};
    struct built b;
    make_deb("mirror/pool/main/t/tool/tool_1.0-1_amd64.deb", "tool", evil, 1, &b);
    char *root = at("root-evil");
    assert_int_equal(lbox_debian_install(&fetcher, &src, &set, root, &err), -1);
    assert_int_equal(err.code, LBOX_E_DIGEST);
    assert_non_null(strstr(err.msg, "tool_1.0-1_amd64.deb"));
    assert_non_null(strstr(err.msg, tool.sha));
    assert_absent("root-evil/usr/bin/tool");
    free(root);
    lbox_deb_set_free(&set);
}

static void test_unknown_and_unreachable(void **state)
{
    (void)state;
    publish(packages_text, false);
    struct lbox_deb_source src = source("amd64");
    struct lbox_deb_set set;
    struct lbox_error err = {0};
    const char *unknown[] = {"tool", "no-such-tool"};
    assert_int_equal(lbox_debian_resolve(&fetcher, &src, unknown, 2, 3600, &set, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "\"no-such-tool\""));
    assert_non_null(strstr(err.msg, mirror));

    src = source("arm64"); /* the Release lists amd64 only */
    const char *wanted[] = {"tool"};
    assert_int_equal(lbox_debian_resolve(&fetcher, &src, wanted, 1, 3600, &set, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "arm64"));

    char gone[PATH_MAX + 32];
    snprintf(gone, sizeof gone, "file://%s/no-mirror-here", tmp);
    src = source("amd64");
    src.mirror = gone;
    assert_int_equal(lbox_debian_resolve(&fetcher, &src, wanted, 1, 3600, &set, &err), -1);
    assert_int_equal(err.code, LBOX_E_NET);
    assert_non_null(strstr(err.msg, "no-mirror-here/dists/bookworm/Release"));
    assert_non_null(strstr(err.msg, LBOX_DEBIAN_MIRROR_HINT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_by_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deb_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_unreachable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
