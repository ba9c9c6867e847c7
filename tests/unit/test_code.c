/* lbox_code_install: good packages, and every hostile zip or directory we know of. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/code.h"
#include "common/fsutil.h"
#include "../fixtures/code/zipgen.h"

struct fx {
    char dir[64];
    char *zip, *dest, *src;
    struct lbox_code_budget budget;
    struct lbox_error err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/lbox-test-code-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->zip = lbox_path_join(f->dir, "in.zip");
    f->dest = lbox_path_join(f->dir, "task");
    f->src = lbox_path_join(f->dir, "src");
    mkdir(f->dest, 0755);
    f->budget = (struct lbox_code_budget)LBOX_CODE_BUDGET_INIT;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    struct lbox_error err;
    lbox_rm_rf(f->dir, &err);
    free(f->zip);
    free(f->dest);
    free(f->src);
    free(f);
    return 0;
}

static char *at(struct fx *f, const char *rel)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", f->dest, rel);
    return buf[k];
}

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len;
    struct lbox_error err;
    assert_int_equal(lbox_read_file(path, 0, &data, &len, &err), 0);
    return data;
}

static void assert_file(const char *path, const char *content, unsigned mode)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
    char *got = slurp(path);
    assert_string_equal(got, content);
    free(got);
}

static void assert_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    assert_int_equal(n, 0);
}

static void assert_msg(struct fx *f, enum lbox_errcode code, const char *needle)
{
    assert_int_equal(f->err.code, code);
    if (!strstr(f->err.msg, needle))
        fail_msg("message '%s' lacks '%s'", f->err.msg, needle);
}

static int install_zip(struct fx *f, const struct zspec *e, size_t n, const char *label)
{
    zipgen_write(f->zip, e, n);
    return lbox_code_install(f->zip, f->dest, label, &f->budget, &f->err);
}

/* A hostile zip is refused, with a message naming the entry, and nothing is written. */
static void refused(struct fx *f, const struct zspec *e, size_t n, const char *needle)
{
    assert_int_equal(install_zip(f, e, n, "/var/task"), -1);
    assert_msg(f, LBOX_E_ARCHIVE, needle);
    assert_empty_dir(f->dest);
}

/* A zip over one of lbox's limits is refused the same way, as LBOX_E_LIMIT. */
static void over_limit(struct fx *f, const struct zspec *e, size_t n, const char *needle)
{
    assert_int_equal(install_zip(f, e, n, "/var/task"), -1);
    assert_msg(f, LBOX_E_LIMIT, needle);
    assert_empty_dir(f->dest);
}

static void test_good_zip(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = {
        { "index.js", 'f', 0644, "exports.handler = 1;\n", 0, NULL },
        { "lib/", 'd', 0755, NULL, 0, NULL },
        { "lib/a/b/deep.js", 'f', 0644, "deep", 0, NULL }, /* parents not listed */
        { "bin/tool", 'f', 0755, "#!/bin/sh\n", 0, NULL },
        { "bin/setuid", 'f', 04755, "x", 0, NULL },
        { "shared.js", 'f', 0666, "w", 0, NULL },
        { "private.js", 'f', 0600, "p", 0, NULL },
        { "./dot/x.js", 'f', 0644, "dot", 0, NULL },
        { "ro/", 'd', 0555, NULL, 0, NULL },
        { "ro/inside.js", 'f', 0444, "ro", 0, NULL },
        { "link-in", 'l', 0, NULL, 0, "lib/a/b/deep.js" },
        { "link-abs-in", 'l', 0, NULL, 0, "/var/task/index.js" },
        { "link-opt", 'l', 0, NULL, 0, "/opt/nodejs/node_modules" },
    };
    assert_int_equal(install_zip(f, e, sizeof e / sizeof *e, "/var/task"), 0);
    assert_file(at(f, "index.js"), "exports.handler = 1;\n", 0644);
    assert_file(at(f, "lib/a/b/deep.js"), "deep", 0644);
    assert_file(at(f, "bin/tool"), "#!/bin/sh\n", 0755);
    assert_file(at(f, "bin/setuid"), "x", 0755);    /* setuid dropped */
    assert_file(at(f, "shared.js"), "w", 0644);     /* group/other write dropped */
    assert_file(at(f, "private.js"), "p", 0600);    /* kept, like Lambda: lint warns */
    assert_file(at(f, "dot/x.js"), "dot", 0644);
    assert_file(at(f, "ro/inside.js"), "ro", 0444); /* written before ro/ got its mode */
    struct stat st;
    assert_int_equal(stat(at(f, "lib/a"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755); /* implied directories */
    assert_int_equal(stat(at(f, "ro"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0555);
    char buf[256];
    ssize_t k = readlink(at(f, "link-opt"), buf, sizeof buf - 1);
    assert_true(k > 0);
    buf[k] = '\0';
    assert_string_equal(buf, "/opt/nodejs/node_modules");
    assert_int_equal(f->budget.used, 21 + 4 + 10 + 1 + 1 + 1 + 3 + 2);
}

static void test_dotdot(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = {
        { "ok.js", 'f', 0644, "fine", 0, NULL },
        { "a/../../evil.js", 'f', 0644, "evil", 0, NULL },
    };
    refused(f, e, 2, "'a/../../evil.js' has a '..' component");
}

static void test_absolute(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = { { "/etc/cron.d/evil", 'f', 0644, "evil", 0, NULL } };
    refused(f, e, 1, "'/etc/cron.d/evil' has an absolute path");
}

static void test_backslash(void **state)
{
    struct fx *f = *state;
    /* libarchive reads '\\' as a separator (zips made on Windows): still no way up. */
    const struct zspec e[] = { { "..\\..\\evil.js", 'f', 0644, "x", 0, NULL } };
    refused(f, e, 1, "'../../evil.js' has a '..' component");
}

static void test_symlink_outside(void **state)
{
    struct fx *f = *state;
    const struct zspec rel[] = {
        { "lib/", 'd', 0755, NULL, 0, NULL },
        { "lib/passwd", 'l', 0, NULL, 0, "../../../etc/passwd" },
    };
    refused(f, rel, 2, "symlink 'lib/passwd' -> '../../../etc/passwd' points outside /var/task");
    const struct zspec abs[] = { { "passwd", 'l', 0, NULL, 0, "/etc/passwd" } };
    refused(f, abs, 1, "symlink 'passwd' -> '/etc/passwd' points outside");
    /* /opt is fine as a plain path, not once it climbs back out. */
    const struct zspec opt[] = { { "o", 'l', 0, NULL, 0, "/opt/../etc/shadow" } };
    refused(f, opt, 1, "points outside");
    /* A layer's root is /opt: /var/task/x is the other code root, /opt/x its own. */
    const struct zspec lay[] = { { "x", 'l', 0, NULL, 0, "/opt/../var/task/../../etc" } };
    assert_int_equal(install_zip(f, lay, 1, "/opt"), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "points outside /opt");
}

static void test_symlink_chain_escape(void **state)
{
    struct fx *f = *state;
    /* Each link alone stays inside; followed like the kernel does, x lands above the root. */
    const struct zspec e[] = {
        { "sub/up", 'l', 0, NULL, 0, ".." },
        { "sub/x", 'l', 0, NULL, 0, "up/.." },
    };
    refused(f, e, 2, "symlink 'sub/x' -> 'up/..' points outside");

    const struct zspec through_abs[] = {
        { "a", 'l', 0, NULL, 0, "/opt/lib" },
        { "b", 'l', 0, NULL, 0, "a/../../etc" },
    };
    refused(f, through_abs, 2, "symlink 'b' -> 'a/../../etc' points outside");

    const struct zspec loop[] = {
        { "a", 'l', 0, NULL, 0, "b" },
        { "b", 'l', 0, NULL, 0, "a/x" },
    };
    refused(f, loop, 2, "loops or passes more than 40 links");
}

static void test_symlink_then_write_through(void **state)
{
    struct fx *f = *state;
    /* An in-tree directory link may be written through; the write stays inside. */
    const struct zspec e[] = {
        { "real/", 'd', 0755, NULL, 0, NULL },
        { "alias", 'l', 0, NULL, 0, "real" },
        { "alias/file.js", 'f', 0644, "via", 0, NULL },
    };
    assert_int_equal(install_zip(f, e, 3, "/var/task"), 0);
    assert_file(at(f, "real/file.js"), "via", 0644);
}

/* A link lands where its parent path really leads, through the links before it: with
 * d -> ., "d/d/.../x" is written as "x" at the root, so its target counts from there. */
static void test_symlink_under_aliased_parent(void **state)
{
    struct fx *f = *state;
    enum { N = 20 };
    char name[4 * N + 8] = "", target[3 * N + 16] = "";
    for (int i = 0; i < N; i++) {
        strcat(name, "d/");
        strcat(target, "../");
    }
    strcat(name, "x");
    strcat(target, "etc/shadow");
    const struct zspec alias[] = {
        { "d", 'l', 0, NULL, 0, "." },
        { name, 'l', 0, NULL, 0, target },
    };
    refused(f, alias, 2, "points outside /var/task");

    /* The same once the link moves the parent elsewhere inside: judged from sub/, fine. */
    const struct zspec moved[] = {
        { "sub/", 'd', 0755, NULL, 0, NULL },
        { "index.js", 'f', 0644, "h", 0, NULL },
        { "d", 'l', 0, NULL, 0, "sub" },
        { "d/x", 'l', 0, NULL, 0, "../index.js" },
    };
    assert_int_equal(install_zip(f, moved, 4, "/var/task"), 0);
    char buf[64];
    ssize_t k = readlink(at(f, "sub/x"), buf, sizeof buf - 1);
    assert_int_equal(k, 11);
    assert_memory_equal(buf, "../index.js", 11);
}

/* Where a link lands depends on the links that exist when it is written, not on what the
 * input leaves at the end: here d is a link when d/x is written (x lands at the root), then
 * becomes a directory. */
static void test_symlink_parent_replaced_later(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = {
        { "d", 'l', 0, NULL, 0, "." },
        { "d/x", 'l', 0, NULL, 0, "../etc/shadow" },
        { "d/", 'd', 0755, NULL, 0, NULL },
    };
    refused(f, e, 3, "symlink 'd/x' -> '../etc/shadow' points outside /var/task");
}

/* An earlier layer's directory link counts too: layer 2's d/d/x is written as x in /opt. */
static void test_symlink_under_earlier_layer_link(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = { { "d", 'l', 0, NULL, 0, "." } };
    assert_int_equal(install_zip(f, l1, 1, "/opt"), 0);
    const struct zspec l2[] = { { "d/d/x", 'l', 0, NULL, 0, "../../etc/shadow" } };
    assert_int_equal(install_zip(f, l2, 1, "/opt"), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'd/d/x' -> '../../etc/shadow' points outside /opt");
    struct stat st;
    assert_int_equal(lstat(at(f, "x"), &st), -1);

    /* Written through a link that leaves the root: refused before anything is written. */
    const struct zspec l3[] = {
        { "up", 'l', 0, NULL, 0, ".." },
        { "up/y", 'f', 0644, "y", 0, NULL },
    };
    assert_int_equal(install_zip(f, l3, 2, "/opt"), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "'up/y' would be written through a symlink");
    assert_int_equal(lstat(at(f, "up"), &st), -1);
}

static void test_device_node(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = { { "dev", 'f', 0644, "", 0, NULL } };
    zipgen_write(f->zip, e, 1);
    zipgen_patch_mode(f->zip, "dev", S_IFCHR | 0666);
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "'dev' is a character device");
    assert_empty_dir(f->dest);
}

static void test_truncated(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = {
        { "a.js", 'f', 0644, NULL, 20000, NULL },
        { "b.js", 'f', 0644, "second", 0, NULL },
    };
    zipgen_write(f->zip, e, 2);
    zipgen_truncate_half(f->zip);
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "not a readable zip file");
    assert_empty_dir(f->dest);
}

static void test_corrupt_central_directory(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = { { "a.js", 'f', 0644, "x", 0, NULL } };
    zipgen_write(f->zip, e, 1);
    zipgen_break_central(f->zip);
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_int_equal(f->err.code, LBOX_E_ARCHIVE);
    assert_non_null(strstr(f->err.msg, f->zip));
    assert_empty_dir(f->dest);
}

static void test_not_a_zip(void **state)
{
    struct fx *f = *state;
    struct lbox_error err;
    assert_int_equal(lbox_write_file_atomic(f->zip, "hello", 5, 0644, &err), 0);
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "not a readable zip file");
    static const char empty[22] = "PK\5\6"; /* what zip writes for no files */
    assert_int_equal(lbox_write_file_atomic(f->zip, empty, sizeof empty, 0644, &err), 0);
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "the zip is empty");
    char *missing = lbox_path_join(f->dir, "missing.zip");
    assert_int_equal(lbox_code_install(missing, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_int_equal(f->err.code, LBOX_E_NOTFOUND);
    free(missing);
}

static void test_zip_bomb(void **state)
{
    struct fx *f = *state;
    f->budget.limit = 1024 * 1024;
    const struct zspec e[] = { { "zeros", 'f', 0644, NULL, 2 * 1024 * 1024, NULL } };
    assert_int_equal(install_zip(f, e, 1, "/var/task"), -1);
    assert_msg(f, LBOX_E_LIMIT,
               "function code and layers unzip to 2.0 MB, over Lambda's 1 MB limit");
    assert_non_null(strstr(f->err.msg, f->zip));
    assert_empty_dir(f->dest);
}

static void test_zip_bomb_lying_sizes(void **state)
{
    struct fx *f = *state;
    f->budget.limit = 1024 * 1024;
    const struct zspec e[] = { { "zeros", 'f', 0644, NULL, 8 * 1024 * 1024, NULL } };
    zipgen_write(f->zip, e, 1);
    zipgen_patch_size(f->zip, "zeros", 10);
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "function code and layers unzip to at least 1.");
    assert_msg(f, LBOX_E_LIMIT, "MB, over Lambda's 1 MB limit");
    assert_empty_dir(f->dest); /* stopped while checking, at the limit, not at 8 MB */
}

static void test_budget_shared(void **state)
{
    struct fx *f = *state;
    f->budget.limit = 1024 * 1024;
    const struct zspec code[] = { { "a", 'f', 0644, NULL, 600 * 1024, NULL } };
    assert_int_equal(install_zip(f, code, 1, "/var/task"), 0);
    assert_int_equal(f->budget.used, 600 * 1024);
    char *layer = lbox_path_join(f->dir, "layer.zip");
    const struct zspec lay[] = { { "b", 'f', 0644, NULL, 600 * 1024, NULL } };
    zipgen_write(layer, lay, 1);
    assert_int_equal(lbox_code_install(layer, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "unzip to 1.2 MB, over Lambda's 1 MB limit: '");
    assert_non_null(strstr(f->err.msg, "layer.zip' pushed it over (0.6 MB before it)"));
    free(layer);
}

static void test_overlapping_layers(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = {
        { "nodejs/a.js", 'f', 0644, "one", 0, NULL },
        { "nodejs/b.js", 'f', 0644, "kept", 0, NULL },
        { "lib", 'l', 0, NULL, 0, "nodejs" },
        { "sub/up", 'l', 0, NULL, 0, ".." },
        { "was-file", 'f', 0644, "f", 0, NULL },
    };
    assert_int_equal(install_zip(f, l1, 5, "/opt"), 0);
    const struct zspec l2[] = {
        { "nodejs/a.js", 'f', 0755, "two", 0, NULL },
        { "lib", 'f', 0644, "now a file", 0, NULL },
        { "was-file/", 'd', 0755, NULL, 0, NULL },
        { "was-file/x", 'f', 0644, "x", 0, NULL },
    };
    char *second = lbox_path_join(f->dir, "second.zip");
    zipgen_write(second, l2, 4);
    assert_int_equal(lbox_code_install(second, f->dest, "/opt", &f->budget, &f->err), 0);
    assert_file(at(f, "nodejs/a.js"), "two", 0755);
    assert_file(at(f, "nodejs/b.js"), "kept", 0644);
    assert_file(at(f, "lib"), "now a file", 0644); /* replaced the symlink, not written through */
    assert_file(at(f, "was-file/x"), "x", 0644);

    /* A third layer whose link is harmless alone but escapes through layer 1's sub/up. */
    const struct zspec l3[] = { { "y", 'l', 0, NULL, 0, "sub/up/.." } };
    zipgen_write(second, l3, 1);
    assert_int_equal(lbox_code_install(second, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'y' -> 'sub/up/..' points outside /opt");

    /* Listing sub/up as a directory replaces layer 1's link, so the same y stays inside. */
    const struct zspec l4[] = {
        { "sub/up/", 'd', 0755, NULL, 0, NULL },
        { "y", 'l', 0, NULL, 0, "sub/up/.." },
    };
    zipgen_write(second, l4, 2);
    assert_int_equal(lbox_code_install(second, f->dest, "/opt", &f->budget, &f->err), 0);
    struct stat st;
    assert_int_equal(lstat(at(f, "sub/up"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(second);
}

/* Installs the layer `name` (a zip of its own, so messages can name it) into /opt. */
static int install_layer(struct fx *f, const char *name, const struct zspec *e, size_t n)
{
    char *zip = lbox_path_join(f->dir, name);
    zipgen_write(zip, e, n);
    int rc = lbox_code_install(zip, f->dest, "/opt", &f->budget, &f->err);
    free(zip);
    return rc;
}

static void assert_link(const char *path, const char *target)
{
    char buf[256];
    ssize_t k = readlink(path, buf, sizeof buf - 1);
    assert_true(k >= 0);
    buf[k] = '\0';
    assert_string_equal(buf, target);
}

/* A later layer cannot change where an earlier layer's link leads: layer 1's lnk -> b/.. is
 * the root itself, until layer 2 makes the empty directory b a link to "." (./.. leaves). */
static void test_later_layer_dir_to_link(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = {
        { "b/", 'd', 0755, NULL, 0, NULL },
        { "lnk", 'l', 0, NULL, 0, "b/.." },
    };
    assert_int_equal(install_layer(f, "one.zip", l1, 2), 0);
    const struct zspec l2[] = { { "b", 'l', 0, NULL, 0, "." } };
    assert_int_equal(install_layer(f, "two.zip", l2, 1), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "two.zip: installing it would make symlink 'lnk' -> 'b/..'");
    assert_msg(f, LBOX_E_ARCHIVE, "point outside /opt");
    assert_msg(f, LBOX_E_ARCHIVE, "goes through 'b', which this input makes a symlink");
    struct stat st;
    assert_int_equal(lstat(at(f, "b"), &st), 0); /* refused before anything is written */
    assert_true(S_ISDIR(st.st_mode));
}

/* The other way round: layer 1's s -> a/b makes s/../.. the root; layer 2 replaces the link
 * s with a directory, and the same path now climbs one level above /opt. */
static void test_later_layer_link_to_dir(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = {
        { "a/b/", 'd', 0755, NULL, 0, NULL },
        { "s", 'l', 0, NULL, 0, "a/b" },
        { "lnk", 'l', 0, NULL, 0, "s/../.." },
    };
    assert_int_equal(install_layer(f, "one.zip", l1, 3), 0);
    const struct zspec l2[] = { { "s/", 'd', 0755, NULL, 0, NULL } };
    assert_int_equal(install_layer(f, "two.zip", l2, 1), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'lnk' -> 's/../..'");
    assert_msg(f, LBOX_E_ARCHIVE, "goes through 's', which this input makes a directory");
    assert_link(at(f, "s"), "a/b");
}

/* A link that never resolved (a file in its path) starts to lead out once a later layer
 * makes that file a link to a directory: f/../.. becomes x/../.. */
static void test_later_layer_file_to_link(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = {
        { "f", 'f', 0644, "f", 0, NULL },
        { "x/", 'd', 0755, NULL, 0, NULL },
        { "lnk", 'l', 0, NULL, 0, "f/../.." },
    };
    assert_int_equal(install_layer(f, "one.zip", l1, 3), 0);
    const struct zspec l2[] = { { "f", 'l', 0, NULL, 0, "x" } };
    assert_int_equal(install_layer(f, "two.zip", l2, 1), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'lnk' -> 'f/../..'");
    assert_msg(f, LBOX_E_ARCHIVE, "goes through 'f', which this input makes a symlink");
    assert_file(at(f, "f"), "f", 0644);
}

/* Adding a name counts as much as replacing one: n/.. is judged the root while n does not
 * exist, and n -> . would turn it into ./.. */
static void test_later_layer_adds_link(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = { { "lnk", 'l', 0, NULL, 0, "n/.." } };
    assert_int_equal(install_layer(f, "one.zip", l1, 1), 0);
    const struct zspec l2[] = { { "n", 'l', 0, NULL, 0, "." } };
    assert_int_equal(install_layer(f, "two.zip", l2, 1), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'lnk' -> 'n/..'");
    struct stat st;
    assert_int_equal(lstat(at(f, "n"), &st), -1);
}

/* A link in dest that no earlier input could have left (put there behind lbox's back) is not
 * blamed on the input being installed, but it is not let through either. */
static void test_escaping_link_already_in_dest(void **state)
{
    struct fx *f = *state;
    assert_int_equal(symlink("../etc", at(f, "planted")), 0);
    const struct zspec l1[] = { { "a.js", 'f', 0644, "a", 0, NULL } };
    assert_int_equal(install_layer(f, "one.zip", l1, 1), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'planted' -> '../etc', already in /opt before this "
               "input, points outside it");
}

/* What layers really do still installs: add files, replace a file with a file, a link with
 * a link (and a link with a directory) as long as every link of every layer stays inside. */
static void test_later_layer_override_ok(void **state)
{
    struct fx *f = *state;
    const struct zspec l1[] = {
        { "nodejs/node_modules/a/index.js", 'f', 0644, "a1", 0, NULL },
        { "nodejs/node_modules/.bin/a", 'l', 0, NULL, 0, "../a/index.js" },
        { "v1/lib.js", 'f', 0644, "v1", 0, NULL },
        { "current", 'l', 0, NULL, 0, "v1" },
        { "lib", 'l', 0, NULL, 0, "current/../nodejs" },
        { "conf", 'l', 0, NULL, 0, "v1" },
    };
    assert_int_equal(install_layer(f, "one.zip", l1, 6), 0);
    const struct zspec l2[] = {
        { "nodejs/node_modules/a/index.js", 'f', 0644, "a2", 0, NULL },
        { "nodejs/node_modules/b/index.js", 'f', 0644, "b", 0, NULL },
        { "nodejs/node_modules/.bin/b", 'l', 0, NULL, 0, "../b/index.js" },
        { "v2/lib.js", 'f', 0644, "v2", 0, NULL },
        { "current", 'l', 0, NULL, 0, "v2" },
        { "conf/", 'd', 0755, NULL, 0, NULL },
    };
    assert_int_equal(install_layer(f, "two.zip", l2, 6), 0);
    assert_file(at(f, "nodejs/node_modules/a/index.js"), "a2", 0644);
    assert_file(at(f, "lib/node_modules/b/index.js"), "b", 0644);
    assert_file(at(f, "current/lib.js"), "v2", 0644);
    assert_link(at(f, "nodejs/node_modules/.bin/a"), "../a/index.js");
    struct stat st;
    assert_int_equal(lstat(at(f, "conf"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void mk(const char *path, const char *content, mode_t mode)
{
    struct lbox_error err;
    assert_int_equal(lbox_write_file_atomic(path, content, strlen(content), mode, &err), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_directory_source(void **state)
{
    struct fx *f = *state;
    char p[512];
    struct lbox_error err;
    snprintf(p, sizeof p, "%s/lib/deep", f->src);
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
    snprintf(p, sizeof p, "%s/index.js", f->src);
    mk(p, "handler", 0644);
    snprintf(p, sizeof p, "%s/lib/deep/run.sh", f->src);
    mk(p, "#!/bin/sh", 04775);
    snprintf(p, sizeof p, "%s/lib/alias", f->src);
    assert_int_equal(symlink("deep/run.sh", p), 0);
    /* A hardlink to a file outside the source: copied, never linked to the outside file. */
    char outside[512], inside[512];
    snprintf(outside, sizeof outside, "%s/outside.txt", f->dir);
    mk(outside, "secret-ish", 0644);
    snprintf(inside, sizeof inside, "%s/hard.txt", f->src);
    assert_int_equal(link(outside, inside), 0);

    assert_int_equal(lbox_code_install(f->src, f->dest, "/var/task", &f->budget, &f->err), 0);
    assert_file(at(f, "index.js"), "handler", 0644);
    assert_file(at(f, "lib/deep/run.sh"), "#!/bin/sh", 0755);
    assert_file(at(f, "hard.txt"), "secret-ish", 0644);
    struct stat a, b;
    assert_int_equal(stat(at(f, "hard.txt"), &a), 0);
    assert_int_equal(stat(outside, &b), 0);
    assert_int_equal(a.st_nlink, 1);
    assert_true(a.st_ino != b.st_ino);
    char buf[64];
    ssize_t k = readlink(at(f, "lib/alias"), buf, sizeof buf - 1);
    assert_int_equal(k, 11);
    assert_memory_equal(buf, "deep/run.sh", 11);
    assert_int_equal(f->budget.used, 7 + 9 + 10);
}

static void test_directory_source_escape(void **state)
{
    struct fx *f = *state;
    struct lbox_error err;
    char p[512];
    snprintf(p, sizeof p, "%s/node_modules", f->src);
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
    snprintf(p, sizeof p, "%s/node_modules/creds", f->src);
    assert_int_equal(symlink("../../outside.txt", p), 0);
    assert_int_equal(lbox_code_install(f->src, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'node_modules/creds' -> '../../outside.txt' points "
                                  "outside /var/task");
    assert_empty_dir(f->dest);

    unlink(p);
    snprintf(p, sizeof p, "%s/pipe", f->src);
    assert_int_equal(mkfifo(p, 0644), 0);
    assert_int_equal(lbox_code_install(f->src, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "'pipe' is a fifo");
    assert_empty_dir(f->dest);
}

static void mkdir_ok(struct fx *f, const char *rel)
{
    char p[512];
    struct lbox_error err;
    snprintf(p, sizeof p, "%s/%s", f->src, rel);
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
}

static void mkfile_in(struct fx *f, const char *rel)
{
    char p[512];
    struct lbox_error err;
    snprintf(p, sizeof p, "%s/%s", f->src, rel);
    *strrchr(p, '/') = '\0';
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
    snprintf(p, sizeof p, "%s/%s", f->src, rel);
    mk(p, "x", 0644);
}

/* "a/a/.../a" with n components (f->dir is reused as scratch). */
static char *nested(size_t n, const char *leaf)
{
    char *p = calloc(1, n * 2 + strlen(leaf) + 1);
    for (size_t i = 0; i < n; i++)
        strcat(p, "a/");
    strcat(p, leaf);
    return p;
}

static void test_whiteout_names(void **state)
{
    struct fx *f = *state;
    /* OCI whiteouts: unpacking the image would delete files, ".wh..." even /var. */
    const struct zspec opq[] = {
        { "index.js", 'f', 0644, "x", 0, NULL },
        { ".wh..wh..opq", 'f', 0644, "", 0, NULL },
    };
    refused(f, opq, 2, "entry '.wh..wh..opq' has a name starting with '.wh.'");
    const struct zspec up[] = { { ".wh...", 'f', 0644, "", 0, NULL } };
    refused(f, up, 1, "entry '.wh...' has a name starting with '.wh.'");
    const struct zspec deep[] = { { "lib/.wh.index.js", 'f', 0644, "", 0, NULL } };
    refused(f, deep, 1, "entry 'lib/.wh.index.js' has a name");
    /* A directory is a layer entry of its own, so a middle component counts too. */
    const struct zspec dir[] = { { "node_modules/.wh.x/index.js", 'f', 0644, "", 0, NULL } };
    refused(f, dir, 1, "entry 'node_modules/.wh.x/index.js' has a name starting with '.wh.'");
    /* Only the prefix is special. */
    const struct zspec fine[] = {
        { "notes.wh.txt", 'f', 0644, "a", 0, NULL },
        { ".whale.js", 'f', 0644, "b", 0, NULL },
        { "x/.wh", 'f', 0644, "c", 0, NULL },
    };
    assert_int_equal(install_zip(f, fine, 3, "/var/task"), 0);
    assert_file(at(f, ".whale.js"), "b", 0644);

    mkfile_in(f, "lib/.wh..wh..opq");
    assert_int_equal(lbox_code_install(f->src, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "entry 'lib/.wh..wh..opq' has a name starting with '.wh.'");
    assert_non_null(strstr(f->err.msg, f->src));
}

static void test_non_utf8_names(void **state)
{
    struct fx *f = *state;
    /* A CP437 zip (no UTF-8 flag): é is the byte 0x82. Refused before writing, by name. */
    const struct zspec cp437[] = {
        { "index.js", 'f', 0644, "x", 0, NULL },
        { "cafX.js", 'f', 0644, "y", 0, NULL },
    };
    zipgen_write(f->zip, cp437, 2);
    zipgen_patch_name(f->zip, "cafX.js", "caf\x82.js");
    assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "entry 'caf\\x82.js' has a name that is not valid UTF-8");
    assert_msg(f, LBOX_E_ARCHIVE, "re-create the zip");
    assert_empty_dir(f->dest);

    /* Overlong '/', a UTF-16 surrogate, a cut sequence: none is UTF-8 either. */
    const char *const bad[][2] = {
        { "a\xc0\xaf" "b.js", "a\\xc0\\xafb.js" },
        { "s\xed\xa0\x80.js", "s\\xed\\xa0\\x80.js" },
        { "cut\xe2\x82", "cut\\xe2\\x82" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char placeholder[32];
        memset(placeholder, 'X', strlen(bad[i][0]));
        placeholder[strlen(bad[i][0])] = '\0';
        const struct zspec e[] = { { placeholder, 'f', 0644, "z", 0, NULL } };
        zipgen_write(f->zip, e, 1);
        zipgen_patch_name(f->zip, placeholder, bad[i][0]);
        assert_int_equal(lbox_code_install(f->zip, f->dest, "/var/task", &f->budget, &f->err), -1);
        assert_msg(f, LBOX_E_ARCHIVE, bad[i][1]);
        assert_empty_dir(f->dest);
    }

    /* Real UTF-8, up to four bytes, passes. */
    const struct zspec good[] = { { "\xc3\x9cn\xc3\xaf c\xc3\xb6\x64\xc3\xa9 \xf0\x9f\x98\x80.js",
                                    'f', 0644, "ok", 0, NULL } };
    assert_int_equal(install_zip(f, good, 1, "/var/task"), 0);

    /* A directory source: the folder's name is refused before anything under it is read. */
    mkfile_in(f, "ok.js");
    mkfile_in(f, "dir\xff/inside.js");
    assert_int_equal(lbox_code_install(f->src, f->dest, "/opt", &f->budget, &f->err), -1);
    /* ... and the advice is to rename it, not to re-create a zip. */
    assert_msg(f, LBOX_E_ARCHIVE, "'dir\\xff' has a name that is not valid UTF-8 (the bytes "
                                  "shown as \\xNN), which a Lambda package cannot hold: rename it");
}

static void test_too_deep(void **state)
{
    struct fx *f = *state;
    /* /var/task is 2 levels: 254 more directories reach the limit of 256, 255 pass it. */
    char *ok = nested(254, "f.js"), *deep = nested(255, "f.js");
    const struct zspec fine[] = { { ok, 'f', 0644, "x", 0, NULL } };
    assert_int_equal(install_zip(f, fine, 1, "/var/task"), 0);
    lbox_rm_rf(f->dest, &f->err);
    mkdir(f->dest, 0755);
    const struct zspec bad[] = {
        { "index.js", 'f', 0644, "x", 0, NULL },
        { deep, 'f', 0644, "x", 0, NULL },
    };
    over_limit(f, bad, 2, "is nested 257 directory levels below / in the image (in "
                          "/var/task), over lbox's limit of 256");
    assert_non_null(strstr(f->err.msg, "entry 'a/a/a/a/")); /* the entry, cut short */
    assert_non_null(strstr(f->err.msg, "a/a/...'"));
    assert_null(strstr(f->err.msg, "f.js"));
    /* Under /opt (1 level) the same path fits. */
    assert_int_equal(install_zip(f, bad, 2, "/opt"), 0);
    free(ok);
    free(deep);

    /* A directory source stops while being listed, naming the folder. */
    char *tree = nested(300, "f.js");
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", f->src, tree);
    *strrchr(p, '/') = '\0';
    assert_int_equal(lbox_mkdir_p(p, 0755, &f->err), 0);
    lbox_rm_rf(f->dest, &f->err);
    mkdir(f->dest, 0755);
    assert_int_equal(lbox_code_install(f->src, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "is nested 257 directory levels below /");
    assert_empty_dir(f->dest);
    free(tree);
}

static void test_directory_count(void **state)
{
    struct fx *f = *state;
    /* Directories listed or implied, each counted once, and symlinks. */
    const struct zspec e[] = {
        { "a/", 'd', 0755, NULL, 0, NULL },
        { "a/b/c.js", 'f', 0644, "c", 0, NULL },
        { "a/b/d.js", 'f', 0644, "d", 0, NULL },
        { "a/bb/", 'd', 0755, NULL, 0, NULL },
        { "a/link", 'l', 0, NULL, 0, "b" },
        { "top.js", 'f', 0644, "t", 0, NULL },
        { "a/bb/", 'd', 0755, NULL, 0, NULL }, /* listed twice, made once */
    };
    assert_int_equal(install_zip(f, e, 7, "/var/task"), 0);
    assert_int_equal(f->budget.dirs, 4); /* a, a/b, a/bb, a/link */

    /* The count is shared with the inputs before, and checked before writing. */
    f->budget.dirs_limit = 100;
    char *paths[5];
    struct zspec bomb[5];
    for (int i = 0; i < 5; i++) {
        char leaf[16];
        snprintf(leaf, sizeof leaf, "u%d", i);
        char *inner = nested(29, "f");
        paths[i] = lbox_strdupf("%s/%s", leaf, inner);
        free(inner);
        bomb[i] = (struct zspec){ paths[i], 'f', 0644, "", 0, NULL };
    }
    char *second = lbox_path_join(f->dir, "layer.zip");
    zipgen_write(second, bomb, 5);
    assert_int_equal(lbox_code_install(second, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "would make 154 directories and symlinks (4 before this input), "
                                "over lbox's limit of 100");
    assert_non_null(strstr(f->err.msg, "layer.zip"));
    struct stat st;
    assert_int_equal(stat(at(f, "u0"), &st), -1); /* nothing of it written */
    assert_int_equal(f->budget.dirs, 4);
    for (int i = 0; i < 5; i++)
        free(paths[i]);
    free(second);

    /* A directory source stops while being listed. */
    char *tree = nested(20, "");
    mkdir_ok(f, tree);
    free(tree);
    f->budget.dirs = 0;
    f->budget.dirs_limit = 10;
    assert_int_equal(lbox_code_install(f->src, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "would make at least 11 directories and symlinks");
}

static void test_directory_bomb(void **state)
{
    struct fx *f = *state;
    /* The audit's bomb at the real limits: 500 paths 250 directories deep, a 0.5 MB zip,
     * would make 125,000 directories (500 MB) with no file byte to count. */
    enum { N = 500 };
    struct zspec *e = calloc(N, sizeof *e);
    char *inner = nested(249, "a");
    for (int i = 0; i < N; i++) {
        char *p = lbox_strdupf("u%d/%s", i, inner);
        e[i] = (struct zspec){ p, 'f', 0644, "", 0, NULL };
    }
    free(inner);
    over_limit(f, e, N, "would make 125000 directories and symlinks (0 before this input), over "
                     "lbox's limit of 65536");
    for (int i = 0; i < N; i++)
        free((char *)e[i].name);
    free(e);
}

/* Files have a cap of their own: empty files count nothing in the 250 MB, yet each takes
 * an inode. It is shared with the inputs before; a zip stops while listed, nothing written;
 * a directory source too. */
static void test_file_count(void **state)
{
    struct fx *f = *state;
    f->budget.files_limit = 20;
    const struct zspec first[] = {
        { "a.js", 'f', 0644, "1", 0, NULL },
        { "lib/b.js", 'f', 0644, "2", 0, NULL },
    };
    assert_int_equal(install_zip(f, first, 2, "/var/task"), 0);
    assert_int_equal(f->budget.files, 2);

    enum { N = 30 };
    struct zspec e[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "empty%d", i);
        e[i] = (struct zspec){ names[i], 'f', 0644, "", 0, NULL };
    }
    char *layer = lbox_path_join(f->dir, "layer.zip");
    zipgen_write(layer, e, N);
    assert_int_equal(lbox_code_install(layer, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "would hold more than 20 files (2 before this input)");
    assert_non_null(strstr(f->err.msg, "layer.zip"));
    struct stat st;
    assert_int_equal(stat(at(f, "empty0"), &st), -1);
    assert_int_equal(f->budget.files, 2);
    free(layer);

    for (int i = 0; i < N; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "d/f%d", i);
        mkfile_in(f, rel);
    }
    assert_int_equal(lbox_code_install(f->src, f->dest, "/opt", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_LIMIT, "more than 20 files");
}

/* A symlink target goes into the layer's tar as a name does: one that is not UTF-8 is
 * refused up front, by entry, not by libarchive half way through the layer. */
static void test_symlink_target_not_utf8(void **state)
{
    struct fx *f = *state;
    const struct zspec e[] = {
        { "index.js", 'f', 0644, "1", 0, NULL },
        { "l", 'l', 0, NULL, 0, "caf\x82.js" },
    };
    assert_int_equal(install_zip(f, e, 2, "/var/task"), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'l' points to 'caf\\x82.js', which is not valid UTF-8");
    assert_empty_dir(f->dest);

    char p[512];
    mkdir(f->src, 0755);
    snprintf(p, sizeof p, "%s/l", f->src);
    assert_int_equal(symlink("\xff\xfe", p), 0);
    assert_int_equal(lbox_code_install(f->src, f->dest, "/var/task", &f->budget, &f->err), -1);
    assert_msg(f, LBOX_E_ARCHIVE, "symlink 'l' points to '\\xff\\xfe'");
    assert_empty_dir(f->dest);
}

/* The depth limit holds for where an entry lands: a short name written through a link to
 * a deep folder lands deeper than its name says. */
static void test_depth_through_link(void **state)
{
    struct fx *f = *state;
    char *deep = nested(200, "x"), *link_target = nested(199, "a");
    char *through = lbox_strdupf("s/%s", deep); /* 201 levels by name, 400 where it lands */
    const struct zspec e[] = {
        { deep, 'f', 0644, "1", 0, NULL },
        { "s", 'l', 0, NULL, 0, link_target },
        { through, 'f', 0644, "2", 0, NULL },
    };
    over_limit(f, e, 3, "directory levels below / in the image, written through the symlinks");
    free(deep);
    free(link_target);
    free(through);
}

int main(void)
{
    umask(077); /* modes must not depend on the caller's umask */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backslash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_chain_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_then_write_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_under_aliased_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_parent_replaced_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_under_earlier_layer_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_central_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip_bomb_lying_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_layer_dir_to_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_layer_link_to_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_layer_file_to_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_layer_adds_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping_link_already_in_dest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_layer_override_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_source_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteout_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_utf8_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_target_not_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_through_link, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
