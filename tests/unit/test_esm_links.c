/* lbox_esm_links: the /node_modules links made for import, and that an image's folders are
 * listed inside the image, never through its links on the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/esm_links.h"
#include "common/fsutil.h"

struct fx {
    char dir[64];
    char *root, *host; /* the staged layer (an image root) and a host folder beside it */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/lbox-test-esm-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->root = lbox_path_join(f->dir, "root");
    f->host = lbox_path_join(f->dir, "host");
    struct lbox_error err;
    char *pkg = lbox_path_join(f->host, "host-only-pkg");
    char *scoped = lbox_path_join(f->host, "@host-scope/host-scoped-pkg");
    int rc = lbox_mkdir_p(pkg, 0755, &err) | lbox_mkdir_p(scoped, 0755, &err) |
             lbox_mkdir_p(f->root, 0755, &err);
    free(pkg);
    free(scoped);
    *state = f;
    return rc;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    struct lbox_error err;
    lbox_rm_rf(f->dir, &err);
    free(f->root);
    free(f->host);
    free(f);
    return 0;
}

static void mkdirs(struct fx *f, const char *rel)
{
    struct lbox_error err;
    char *p = lbox_path_join(f->root, rel);
    assert_int_equal(lbox_mkdir_p(p, 0755, &err), 0);
    free(p);
}

static void mklink(struct fx *f, const char *rel, const char *target)
{
    char *p = lbox_path_join(f->root, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static int exists(struct fx *f, const char *rel)
{
    char *p = lbox_path_join(f->root, rel);
    struct stat st;
    int yes = lstat(p, &st) == 0;
    free(p);
    return yes;
}

static void assert_link(struct fx *f, const char *rel, const char *target)
{
    char *p = lbox_path_join(f->root, rel);
    char buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    free(p);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, target);
}

static const char *const layer_dirs[] = { "opt/nodejs/node18/node_modules",
                                          "opt/nodejs/node_modules" };

static void test_packages_and_scopes(void **state)
{
    struct fx *f = *state;
    mkdirs(f, "opt/nodejs/node_modules/greet");
    mkdirs(f, "opt/nodejs/node_modules/@acme/tool");
    mkdirs(f, "opt/nodejs/node18/node_modules/greet");
    struct lbox_error err = { 0 };
    assert_int_equal(lbox_esm_links(f->root, layer_dirs, 2, &err), 0);
    /* The first folder in NODE_PATH order wins a name found in several. */
    assert_link(f, "node_modules/greet", "/opt/nodejs/node18/node_modules/greet");
    assert_link(f, "node_modules/@acme/tool", "/opt/nodejs/node_modules/@acme/tool");
}

/* A layer's node_modules that links out of the image by `..` (the escape the code check
 * refuses, in case one got through) or by an absolute path, which names a folder of the
 * image: either way no host file name becomes a link in the image. */
static void test_links_resolve_inside_the_image(void **state)
{
    struct fx *f = *state;
    mkdirs(f, "opt/nodejs");
    mklink(f, "opt/nodejs/node_modules", f->host);
    mkdirs(f, "opt/nodejs/node18");
    mklink(f, "opt/nodejs/node18/node_modules", "../../../../host");
    struct lbox_error err = { 0 };
    assert_int_equal(lbox_esm_links(f->root, layer_dirs, 2, &err), 0);
    assert_false(exists(f, "node_modules/host-only-pkg"));
    assert_false(exists(f, "node_modules/@host-scope"));
}

/* The same absolute link where the image does hold that folder: its packages are linked. */
static void test_absolute_link_inside_the_image(void **state)
{
    struct fx *f = *state;
    mkdirs(f, "opt/shared/in-image-pkg");
    mkdirs(f, "opt/shared/@scope/scoped");
    mkdirs(f, "opt/nodejs");
    mklink(f, "opt/nodejs/node_modules", "/opt/shared");
    /* A scope folder that links out is listed inside the image too. */
    mkdirs(f, "opt/nodejs/node18/node_modules");
    char *scope = lbox_strdupf("%s/@host-scope", f->host);
    mklink(f, "opt/nodejs/node18/node_modules/@host-scope", scope);
    free(scope);
    struct lbox_error err = { 0 };
    assert_int_equal(lbox_esm_links(f->root, layer_dirs, 2, &err), 0);
    assert_link(f, "node_modules/in-image-pkg", "/opt/nodejs/node_modules/in-image-pkg");
    assert_link(f, "node_modules/@scope/scoped", "/opt/nodejs/node_modules/@scope/scoped");
    assert_false(exists(f, "node_modules/@host-scope/host-scoped-pkg"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_packages_and_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_resolve_inside_the_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_link_inside_the_image, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
