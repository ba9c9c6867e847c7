/* An engine loads our archives: `podman load` (vfs storage in a private root) of both the
 * OCI and the docker export, then podman's view of the config and of the unpacked layers.
 * Needs root and podman (scripts/install-deps.sh); skipped otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "skip_unless.h"

#include "builder/image.h"
#include "builder/layer.h"
#include "builder/store.h"
#include "common/cleanup.h"
#include "oci_fixture.h"

struct ctx {
    char *root, *podman;
    struct lbox_store *st;
};

static void must(int r, const struct lbox_error *err)
{
    if (r < 0)
        fail_msg("%s", err->msg);
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    c->root = fx_private_xdg();
    c->podman = lbox_strdupf("podman --root %s/pr --runroot %s/prun --storage-driver vfs "
                             "--cgroup-manager cgroupfs --events-backend none",
                             c->root, c->root);
    _cleanup_free_ char *tree = lbox_path_join(c->root, "tree");
    fx_write(tree, "var/task/index.js", "exports.handler = async () => 'loaded';\n");
    fx_write(tree, "tmp/.keep", "");
    struct lbox_error err;
    must(lbox_store_open(NULL, &c->st, &err), &err);
    struct lbox_layer l;
    must(lbox_layer_write_dir(c->st, tree, 1700000000, &l, &err), &err);
    const char *env[] = {"LAMBDA_TASK_ROOT=/var/task", NULL};
    struct lbox_image_spec spec = {.ref = "lbox-podman:t", .runtime = "nodejs18.x",
                                   .arch = "arm64", .handler = "index.handler", .env = env,
                                   .layers = &l, .nlayers = 1, .created = 1700000000};
    char md[72];
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    lbox_store_close(c->st);
    fx_rm(c->root); /* podman's vfs dirs are plain files: rm -rf is enough */
    free(c->root);
    free(c->podman);
    free(c);
    return 0;
}

/* Runs a shell command and returns its first output line (trimmed), or NULL on failure. */
static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char line[4096] = "";
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    char rest[4096];
    while (fgets(rest, sizeof rest, p))
        ;
    int st = pclose(p);
    if (st != 0)
        return NULL;
    line[strcspn(line, "\n")] = '\0';
    return lbox_xstrdup(line);
}

static void loads(struct ctx *c, enum lbox_export_format fmt)
{
    SKIP_UNLESS(geteuid() == 0 && access("/usr/bin/podman", X_OK) == 0,
                "needs root and podman (scripts/install-deps.sh)");
    _cleanup_free_ char *tar = lbox_path_join(c->root, "image.tar");
    struct lbox_error err;
    must(lbox_image_export(c->st, "lbox-podman:t", tar, fmt, &err), &err);
    _cleanup_free_ char *load = lbox_strdupf("%s load -q -i %s 2>&1", c->podman, tar);
    _cleanup_free_ char *loaded = run(load);
    if (!loaded)
        fail_msg("podman load failed: %s", load);
    assert_non_null(strstr(loaded, "lbox-podman:t"));
    _cleanup_free_ char *insp = lbox_strdupf(
        "%s image inspect --format '{{.Os}}/{{.Architecture}} {{.Config.WorkingDir}} "
        "{{index .Config.Cmd 0}} {{index .Config.Labels \"dev.lbox.runtime\"}}' lbox-podman:t",
        c->podman);
    _cleanup_free_ char *got = run(insp);
    assert_non_null(got);
    assert_string_equal(got, "linux/arm64 /var/task index.handler nodejs18.x");
    /* podman's own unpacking of our layer */
    _cleanup_free_ char *mnt_cmd = lbox_strdupf("%s image mount lbox-podman:t", c->podman);
    _cleanup_free_ char *mnt = run(mnt_cmd);
    assert_non_null(mnt);
    _cleanup_free_ char *js = lbox_path_join(mnt, "var/task/index.js");
    _cleanup_free_ char *keep = lbox_path_join(mnt, "tmp/.keep");
    char *data;
    size_t len;
    must(lbox_read_file(js, 0, &data, &len, &err), &err);
    assert_string_equal(data, "exports.handler = async () => 'loaded';\n");
    free(data);
    struct stat st;
    assert_int_equal(stat(keep, &st), 0);
    assert_int_equal(st.st_uid, 993);
    assert_int_equal(st.st_gid, 990);
    _cleanup_free_ char *umount = lbox_strdupf("%s image umount -a >/dev/null 2>&1", c->podman);
    assert_int_equal(system(umount), 0);
}

static void podman_loads_oci_archive(void **state) { loads(*state, LBOX_EXPORT_OCI); }
static void podman_loads_docker_archive(void **state) { loads(*state, LBOX_EXPORT_DOCKER); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(podman_loads_oci_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(podman_loads_docker_archive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
