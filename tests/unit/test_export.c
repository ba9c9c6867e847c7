/* Exports: the OCI/docker archive read back with libarchive and checked blob by blob, the
 * rootfs directory and tarball, and (when installed) skopeo as an independent reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "skip_unless.h"
#include <jansson.h>

#include "builder/image.h"
#include "builder/layer.h"
#include "builder/store.h"
#include "common/cleanup.h"
#include "oci_fixture.h"

#define EPOCH 1700000000

struct member {
    char *name;
    char *data;
    size_t len;
};

struct ctx {
    char *root;
    struct lbox_store *st;
    struct lbox_layer layers[2];
    char manifest[72];
    struct member m[64];
    size_t nm;
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
    _cleanup_free_ char *base = lbox_path_join(c->root, "base");
    _cleanup_free_ char *fn = lbox_path_join(c->root, "fn");
    fx_write(base, "etc/passwd", "root:x:0:0::/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n");
    fx_write(base, "var/runtime/bootstrap", "#!/bin/sh\n");
    fx_mkdir(base, "tmp");
    fx_write(fn, "var/task/index.js", "exports.handler = async (e) => e;\n");
    struct lbox_error err;
    must(lbox_store_open(NULL, &c->st, &err), &err);
    must(lbox_layer_write_dir(c->st, base, EPOCH, &c->layers[0], &err), &err);
    must(lbox_layer_write_dir(c->st, fn, EPOCH, &c->layers[1], &err), &err);
    const char *env[] = {"PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
                         "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime", NULL};
    const char *comments[] = {"base", "function"};
    struct lbox_image_spec spec = {.ref = "hello:test", .runtime = "nodejs18.x",
                                   .arch = "x86_64", .handler = "index.handler", .env = env,
                                   .layers = c->layers, .layer_comments = comments,
                                   .nlayers = 2, .created = EPOCH};
    must(lbox_image_commit(c->st, &spec, c->manifest, &err), &err);
    *state = c;
    return 0;
}

static void members_free(struct ctx *c)
{
    for (size_t i = 0; i < c->nm; i++) {
        free(c->m[i].name);
        free(c->m[i].data);
    }
    c->nm = 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    members_free(c);
    lbox_store_close(c->st);
    fx_rm(c->root);
    free(c->root);
    free(c);
    return 0;
}

/* Reads every regular file of an (uncompressed) tar into c->m. */
static void read_archive(struct ctx *c, const char *path)
{
    members_free(c);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        assert_true(c->nm < 64);
        struct member *m = &c->m[c->nm++];
        m->name = lbox_xstrdup(archive_entry_pathname(e));
        m->len = (size_t)archive_entry_size(e);
        m->data = lbox_xmalloc(m->len + 1);
        assert_int_equal(archive_read_data(a, m->data, m->len), (la_ssize_t)m->len);
        m->data[m->len] = '\0';
    }
    archive_read_free(a);
}

static struct member *find(struct ctx *c, const char *name)
{
    for (size_t i = 0; i < c->nm; i++)
        if (!strcmp(c->m[i].name, name))
            return &c->m[i];
    return NULL;
}

/* The blob a descriptor names: present, hashing to its digest, of its size. */
static struct member *check_desc(struct ctx *c, json_t *desc)
{
    const char *d = json_string_value(json_object_get(desc, "digest"));
    assert_non_null(d);
    _cleanup_free_ char *name = lbox_strdupf("blobs/sha256/%s", d + 7);
    struct member *m = find(c, name);
    if (!m)
        fail_msg("%s is missing from the archive", name);
    char hex[65];
    lbox_sha256_hex(m->data, m->len, hex);
    assert_string_equal(hex, d + 7);
    assert_int_equal(m->len, json_integer_value(json_object_get(desc, "size")));
    return m;
}

static json_t *parse(struct member *m)
{
    assert_non_null(m);
    json_error_t je;
    json_t *j = json_loadb(m->data, m->len, 0, &je);
    if (!j)
        fail_msg("%s: %s", m->name, je.text);
    return j;
}

static void export(struct ctx *c, enum lbox_export_format f, const char *out)
{
    struct lbox_error err;
    must(lbox_image_export(c->st, "hello:test", out, f, &err), &err);
}

static void oci_archive_is_complete(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *out = lbox_path_join(c->root, "image.tar");
    export(c, LBOX_EXPORT_OCI, out);
    read_archive(c, out);

    json_t *layout = parse(find(c, "oci-layout"));
    assert_string_equal(json_string_value(json_object_get(layout, "imageLayoutVersion")), "1.0.0");
    json_decref(layout);
    assert_null(find(c, "repositories"));

    json_t *idx = parse(find(c, "index.json"));
    assert_int_equal(json_integer_value(json_object_get(idx, "schemaVersion")), 2);
    json_t *mans = json_object_get(idx, "manifests");
    assert_int_equal(json_array_size(mans), 1);
    json_t *md = json_array_get(mans, 0);
    assert_string_equal(json_string_value(json_object_get(md, "digest")), c->manifest);
    json_t *ann = json_object_get(md, "annotations");
    assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")),
                        "hello:test");
    assert_string_equal(json_string_value(json_object_get(ann, "io.containerd.image.name")),
                        "docker.io/library/hello:test");

    json_t *man = parse(check_desc(c, md));
    assert_string_equal(json_string_value(json_object_get(man, "mediaType")),
                        "application/vnd.oci.image.manifest.v1+json");
    json_t *cfg = parse(check_desc(c, json_object_get(man, "config")));
    assert_string_equal(json_string_value(json_object_get(cfg, "architecture")), "amd64");
    assert_string_equal(json_string_value(json_object_get(cfg, "os")), "linux");
    assert_null(json_object_get(cfg, "variant"));
    assert_string_equal(json_string_value(json_object_get(cfg, "created")), "2023-11-14T22:13:20Z");
    json_t *cc = json_object_get(cfg, "config");
    assert_string_equal(json_string_value(json_object_get(cc, "WorkingDir")), "/var/task");
    assert_string_equal(json_string_value(json_array_get(json_object_get(cc, "Cmd"), 0)),
                        "index.handler");
    assert_string_equal(json_string_value(json_array_get(json_object_get(cc, "Env"), 1)),
                        "LAMBDA_TASK_ROOT=/var/task");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cc, "Labels"),
                                                          "dev.lbox.runtime")), "nodejs18.x");
    assert_int_equal(json_array_size(json_object_get(cfg, "history")), 2);

    json_t *layers = json_object_get(man, "layers");
    json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    assert_int_equal(json_array_size(layers), 2);
    assert_int_equal(json_array_size(diff_ids), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *l = json_array_get(layers, i);
        assert_string_equal(json_string_value(json_object_get(l, "mediaType")),
                            "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_string_equal(json_string_value(json_object_get(l, "digest")), c->layers[i].digest);
        struct member *blob = check_desc(c, l);
        char diff[72];
        fx_gunzip_digest(blob->data, blob->len, diff);
        assert_string_equal(diff, json_string_value(json_array_get(diff_ids, i)));
    }

    json_t *legacy = parse(find(c, "manifest.json"));
    assert_int_equal(json_array_size(legacy), 1);
    json_t *l0 = json_array_get(legacy, 0);
    const char *cfgpath = json_string_value(json_object_get(l0, "Config"));
    _cleanup_free_ char *want = lbox_strdupf(
        "blobs/sha256/%s",
        json_string_value(json_object_get(json_object_get(man, "config"), "digest")) + 7);
    assert_string_equal(cfgpath, want);
    assert_string_equal(json_string_value(json_array_get(json_object_get(l0, "RepoTags"), 0)),
                        "hello:test");
    size_t i;
    json_t *lp;
    json_array_foreach(json_object_get(l0, "Layers"), i, lp) {
        assert_non_null(find(c, json_string_value(lp)));
        _cleanup_free_ char *w = lbox_strdupf("blobs/sha256/%s", c->layers[i].digest + 7);
        assert_string_equal(json_string_value(lp), w);
    }
    assert_int_equal(i, 2);
    json_decref(legacy);
    json_decref(cfg);
    json_decref(man);
    json_decref(idx);
}

static void archives_are_reproducible_and_docker_adds_repositories(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *a = lbox_path_join(c->root, "a.tar");
    _cleanup_free_ char *b = lbox_path_join(c->root, "b.tar");
    _cleanup_free_ char *d = lbox_path_join(c->root, "d.tar");
    export(c, LBOX_EXPORT_OCI, a);
    export(c, LBOX_EXPORT_OCI, b);
    export(c, LBOX_EXPORT_DOCKER, d);
    struct lbox_error err;
    char ha[65], hb[65];
    must(lbox_sha256_file(a, ha, &err), &err);
    must(lbox_sha256_file(b, hb, &err), &err);
    assert_string_equal(ha, hb);
    read_archive(c, d);
    json_t *repos = parse(find(c, "repositories"));
    assert_non_null(json_object_get(json_object_get(repos, "hello"), "test"));
    json_decref(repos);
    assert_non_null(find(c, "manifest.json"));
    assert_int_equal(fx_count(c->root, "a.tar.tmp"), 0);
}

static void rootfs_exports(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = lbox_path_join(c->root, "rootfs");
    export(c, LBOX_EXPORT_ROOTFS, dir);
    char *data;
    size_t len;
    struct lbox_error err;
    _cleanup_free_ char *js = lbox_path_join(dir, "var/task/index.js");
    must(lbox_read_file(js, 0, &data, &len, &err), &err);
    assert_string_equal(data, "exports.handler = async (e) => e;\n");
    free(data);
    /* an existing directory is not overwritten */
    assert_int_equal(lbox_image_export(c->st, "hello:test", dir, LBOX_EXPORT_ROOTFS, &err), -1);
    assert_non_null(strstr(err.msg, "already exists"));

    _cleanup_free_ char *tarball = lbox_path_join(c->root, "rootfs.tar");
    export(c, LBOX_EXPORT_ROOTFS_TAR, tarball);
    read_archive(c, tarball);
    assert_non_null(find(c, "var/task/index.js"));
    assert_non_null(find(c, "var/runtime/bootstrap"));
    assert_non_null(find(c, "etc/passwd"));

    assert_int_equal(lbox_image_export(c->st, "nope", tarball, LBOX_EXPORT_OCI, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    enum lbox_export_format f;
    assert_int_equal(lbox_export_format_parse("rootfs-tar", &f, &err), 0);
    assert_int_equal(f, LBOX_EXPORT_ROOTFS_TAR);
    assert_int_equal(lbox_export_format_parse("zip", &f, &err), -1);
}

/* skopeo is a second, independent reader of the archive (Go's containers/image). */
static void skopeo_reads_the_archive(void **state)
{
    struct ctx *c = *state;
    SKIP_UNLESS(access("/usr/bin/skopeo", X_OK) == 0, "no skopeo: scripts/install-deps.sh installs it");
    _cleanup_free_ char *out = lbox_path_join(c->root, "image.tar");
    export(c, LBOX_EXPORT_OCI, out);
    _cleanup_free_ char *dir = lbox_path_join(c->root, "copied");
    _cleanup_free_ char *cmd = lbox_strdupf(
        "skopeo --insecure-policy copy -q oci-archive:%s:hello:test dir:%s >/dev/null 2>&1 && "
        "skopeo inspect --config oci-archive:%s 2>/dev/null | grep -q '\"architecture\": \"amd64\"'",
        out, dir, out);
    assert_int_equal(system(cmd), 0);
    _cleanup_free_ char *man = lbox_path_join(dir, "manifest.json");
    assert_int_equal(access(man, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(oci_archive_is_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(archives_are_reproducible_and_docker_adds_repositories,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rootfs_exports, setup, teardown),
        cmocka_unit_test_setup_teardown(skopeo_reads_the_archive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
