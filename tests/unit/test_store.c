/* The local store: tags, resolution, listing, removal with garbage collection, locking,
 * no partial blobs, and safe unpacking (whiteouts, hostile layers, non-root users). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "skip_unless.h"
#include <jansson.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "builder/fetch.h"
#include "builder/image.h"
#include "builder/layer.h"
#include "builder/rootfs_cache.h"
#include "builder/store.h"
#include "builder/store_internal.h"
#include "common/cleanup.h"
#include "oci_fixture.h"

#define EPOCH 1700000000

struct ctx {
    char *root, *store_dir, *blobs;
    struct lbox_store *st;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    c->root = fx_private_xdg();
    c->store_dir = lbox_path_join(c->root, "store");
    c->blobs = lbox_path_join(c->store_dir, "blobs/sha256");
    struct lbox_error err;
    assert_int_equal(lbox_store_open(c->store_dir, &c->st, &err), 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    lbox_store_close(c->st);
    fx_rm(c->root);
    free(c->root);
    free(c->store_dir);
    free(c->blobs);
    free(c);
    return 0;
}

static void must(int r, const struct lbox_error *err)
{
    if (r < 0)
        fail_msg("%s", err->msg);
}

/* A one-layer image of a tree with one file; returns the manifest digest. */
static void make_image(struct ctx *c, const char *ref, const char *body, char md[72])
{
    _cleanup_free_ char *t = lbox_strdupf("%s/tree-%s", c->root, body);
    fx_write(t, "var/task/index.js", body);
    struct lbox_layer l;
    struct lbox_error err;
    must(lbox_layer_write_dir(c->st, t, EPOCH, &l, &err), &err);
    const char *env[] = {"LANG=en_US.UTF-8", NULL};
    struct lbox_image_spec spec = {.ref = ref, .runtime = "nodejs16.x", .arch = "arm64",
                                   .handler = "index.handler", .env = env, .layers = &l,
                                   .nlayers = 1, .created = EPOCH};
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
}

static void tag_resolve_list_remove_gc(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char a[72], b[72], d[72];
    make_image(c, "app:1", "one", a);
    make_image(c, "other", "two", b);
    assert_string_not_equal(a, b);
    must(lbox_store_tag(c->st, "app:alias", a, 0, &err), &err);

    must(lbox_store_resolve(c->st, "app:1", d, &err), &err);
    assert_string_equal(d, a);
    must(lbox_store_resolve(c->st, "other:latest", d, &err), &err);
    assert_string_equal(d, b);
    _cleanup_free_ char *prefix = strndup(b + 7, 10);
    must(lbox_store_resolve(c->st, prefix, d, &err), &err);
    assert_string_equal(d, b);
    assert_int_equal(lbox_store_resolve(c->st, "nothere", d, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    /* The full digest of a blob that is no manifest (its config, its layer) names no image. */
    json_t *man = lbox_store_load_manifest(c->st, a, &err);
    assert_non_null(man);
    const char *cfg_digest = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
    const char *layer_digest = json_string_value(
        json_object_get(json_array_get(json_object_get(man, "layers"), 0), "digest"));
    assert_true(lbox_store_has_blob(c->st, cfg_digest) && lbox_store_has_blob(c->st, layer_digest));
    assert_int_equal(lbox_store_resolve(c->st, cfg_digest, d, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    assert_int_equal(lbox_store_resolve(c->st, layer_digest, d, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
    json_decref(man);
    /* Its own full digest does. */
    must(lbox_store_resolve(c->st, a, d, &err), &err);
    assert_string_equal(d, a);

    struct lbox_store_image *imgs;
    size_t n;
    must(lbox_store_list(c->st, &imgs, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_string_equal(imgs[0].ref, "app:1"); /* sorted */
    assert_string_equal(imgs[1].ref, "app:alias");
    assert_string_equal(imgs[2].ref, "other:latest");
    assert_string_equal(imgs[2].runtime, "nodejs16.x");
    assert_string_equal(imgs[2].arch, "arm64");
    assert_string_equal(imgs[2].created, "2023-11-14T22:13:20Z");
    assert_true(imgs[2].size > 0);
    lbox_store_images_free(imgs, n);

    _cleanup_free_ char *cfg = NULL;
    must(lbox_store_config(c->st, "app:1", &cfg, &err), &err);
    assert_non_null(strstr(cfg, "\"architecture\":\"arm64\""));
    assert_non_null(strstr(cfg, "\"variant\":\"v8\""));

    size_t blobs_all = fx_count(c->blobs, ""); /* 2 x (layer, config, manifest) */
    assert_int_equal(blobs_all, 6);
    must(lbox_store_remove(c->st, "app:1", &err), &err);
    assert_int_equal(fx_count(c->blobs, ""), 6); /* app:alias still holds it */
    must(lbox_store_remove(c->st, "app:alias", &err), &err);
    assert_int_equal(fx_count(c->blobs, ""), 3);
    assert_int_equal(lbox_store_resolve(c->st, "app:1", d, &err), -1);
    must(lbox_store_remove(c->st, prefix, &err), &err); /* by digest prefix */
    assert_int_equal(fx_count(c->blobs, ""), 0);
    assert_int_equal(lbox_store_remove(c->st, "other", &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);
}

static void bad_refs_are_refused(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char a[72];
    make_image(c, "ok", "x", a);
    const char *bad[] = {"Upper:1", "a:b:c", "-lead", "a//b", "a:", "a:-x", "a@sha256:00", "",
                         /* separators engines refuse, and hosts that are not hosts */
                         "../x", "a..b", "a._b", "a___b", "::/x", "..:..:../x:y", "host.:1/x",
                         "h:port/x", "h:123456/x",
                         /* digests, which would hide the images they name */
                         "sha256:65e8", "sha256",
                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = LBOX_OK;
        assert_int_equal(lbox_store_tag(c->st, bad[i], a, 10, &err), -1);
        assert_int_equal(err.code, LBOX_E_INVAL);
    }
    const char *good[] = {"a__b", "a--b", "a-b.c_d", "my.registry:5000/x/y", "localhost/x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *n = lbox_ref_normalize(good[i], &err);
        if (!n)
            fail_msg("%s refused: %s", good[i], err.msg);
        free(n);
    }
    _cleanup_free_ char *q = lbox_ref_normalize("localhost:5000/team/fn", &err);
    assert_string_equal(q, "localhost:5000/team/fn:latest");
    _cleanup_free_ char *f = lbox_ref_qualified("hello:latest");
    assert_string_equal(f, "docker.io/library/hello:latest");
}

/* A tag another OCI tool wrote as a bare name ("weird", not "weird:latest") is found,
 * listed and removed by that name, and its removal leaves the image's other tags. */
static void bare_tags_of_other_tools(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char a[72], d[72];
    make_image(c, "x:1", "x", a);
    must(lbox_store_tag(c->st, "keep:1", a, 0, &err), &err);
    _cleanup_free_ char *index = lbox_path_join(c->store_dir, "index.json");
    json_t *idx = json_load_file(index, 0, NULL);
    assert_non_null(idx);
    size_t i;
    json_t *desc;
    json_array_foreach(json_object_get(idx, "manifests"), i, desc)
        if (!strcmp(lbox_desc_ref(desc), "x:1"))
            json_object_set_new(json_object_get(desc, "annotations"),
                                "org.opencontainers.image.ref.name", json_string("weird"));
    assert_int_equal(json_dump_file(idx, index, 0), 0);
    json_decref(idx);

    must(lbox_store_resolve(c->st, "weird", d, &err), &err);
    assert_string_equal(d, a);
    must(lbox_store_remove(c->st, "weird", &err), &err);
    assert_int_equal(lbox_store_resolve(c->st, "weird", d, &err), -1);
    must(lbox_store_resolve(c->st, "keep:1", d, &err), &err);
    assert_string_equal(d, a);
}

/* Two processes tag 20 refs each at the same time: all 40 land, index.json stays valid. */
static void concurrent_tags_all_land(void **state)
{
    struct ctx *c = *state;
    char md[72];
    make_image(c, "base", "b", md);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            struct lbox_store *st;
            struct lbox_error err;
            if (lbox_store_open(c->store_dir, &st, &err) < 0)
                _exit(1);
            for (int i = 0; i < 20; i++) {
                char ref[32];
                snprintf(ref, sizeof ref, "p%d:t%d", k, i);
                if (lbox_store_tag(st, ref, md, 100, &err) < 0)
                    _exit(2);
            }
            lbox_store_close(st);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    _cleanup_free_ char *ip = lbox_path_join(c->store_dir, "index.json");
    json_error_t je;
    json_t *idx = json_load_file(ip, 0, &je);
    assert_non_null(idx);
    assert_int_equal(json_array_size(json_object_get(idx, "manifests")), 41);
    json_decref(idx);
}

static void busy_after_bounded_wait(void **state)
{
    struct ctx *c = *state;
    char md[72];
    make_image(c, "base", "b", md);
    _cleanup_free_ char *lp = lbox_path_join(c->store_dir, "index.lock");
    int fd = open(lp, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0); /* another "lbox" writing */
    lbox_store_set_lock_timeout(c->st, 100);
    struct lbox_error err = {0};
    assert_int_equal(lbox_store_tag(c->st, "late", md, 10, &err), -1);
    assert_int_equal(err.code, LBOX_E_BUSY);
    assert_non_null(strstr(err.msg, "another lbox is writing"));
    close(fd);
    must(lbox_store_tag(c->st, "late", md, 10, &err), &err);
}

/* gc never deletes while another process holds the store (it may be mid-build). */
static void gc_waits_for_other_holders(void **state)
{
    struct ctx *c = *state;
    char md[72];
    make_image(c, "gone", "g", md);
    lbox_store_close(c->st); /* drop our own hold */
    struct lbox_error err;
    must(lbox_store_open(c->store_dir, &c->st, &err), &err);
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t kid = fork();
    if (kid == 0) {
        struct lbox_store *st;
        if (lbox_store_open(c->store_dir, &st, &err) < 0 || lbox_store_hold(st, &err) < 0)
            _exit(1);
        char b = 1;
        if (write(go[1], &b, 1) != 1 || read(done[0], &b, 1) != 1)
            _exit(2);
        _exit(0);
    }
    char b;
    assert_int_equal(read(go[0], &b, 1), 1);
    must(lbox_store_remove(c->st, "gone", &err), &err);
    assert_int_equal(fx_count(c->blobs, ""), 3); /* untagged, but still there */
    assert_int_equal(write(done[1], &b, 1), 1);
    int status;
    waitpid(kid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    size_t removed;
    must(lbox_store_gc(c->st, &removed, &err), &err);
    assert_int_equal(removed, 3);
    assert_int_equal(fx_count(c->blobs, ""), 0);
}

/* A removal whose collection fails afterwards (here: another image's manifest is missing)
 * still removed the tag: that is a warning (1), not a failure. */
static void remove_outlives_a_failed_collection(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char x[72], y[72], got[72];
    make_image(c, "x:1", "x", x);
    make_image(c, "y:1", "y", y);
    _cleanup_free_ char *xm = lbox_store_blob_path(c->st, x);
    assert_int_equal(unlink(xm), 0);
    assert_int_equal(lbox_store_remove(c->st, "y:1", &err), 1);
    assert_non_null(strstr(err.msg, x + 7));
    assert_non_null(strstr(err.msg, "at image 'x:1'")); /* the one to remove, not y:1 */
    assert_int_equal(lbox_store_resolve(c->st, "y:1", got, &err), -1);
}

/* A collection that stopped (a suspended lbox rm holding gc.lock exclusively) makes a hold
 * fail after the lock timeout with a message, instead of hanging every other lbox. */
static void hold_waits_for_a_stopped_collection_only_so_long(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err = {0};
    _cleanup_free_ char *path = lbox_path_join(c->store_dir, "gc.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0); /* another open file: a lock of its own */
    lbox_store_set_lock_timeout(c->st, 200);
    assert_int_equal(lbox_store_hold(c->st, &err), -1);
    assert_int_equal(err.code, LBOX_E_BUSY);
    assert_non_null(strstr(err.msg, "collecting unused blobs"));
    close(fd);
    must(lbox_store_hold(c->st, &err), &err);
}

/* A collection skipped because another lbox holds the store keeps our own hold: flock(2)
 * drops a shared lock when converting it to an exclusive one fails. */
static void skipped_collection_keeps_the_hold(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err = {0};
    _cleanup_free_ char *path = lbox_path_join(c->store_dir, "gc.lock");
    must(lbox_store_hold(c->st, &err), &err);
    int other = open(path, O_RDWR | O_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_SH), 0);
    size_t removed = 99;
    must(lbox_store_gc(c->st, &removed, &err), &err);
    assert_int_equal(removed, 0); /* skipped */
    close(other);
    /* Were our hold gone, a third party could now collect under us. */
    int third = open(path, O_RDWR | O_CLOEXEC);
    assert_true(third >= 0);
    assert_int_equal(flock(third, LOCK_EX | LOCK_NB), -1);
    close(third);
}

static void failed_writes_leave_nothing(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    _cleanup_free_ char *f = lbox_path_join(c->root, "file");
    fx_write(c->root, "file", "content");
    char wrong[72] = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(lbox_store_put_blob_file(c->st, f, wrong, false, &err), -1);
    assert_int_equal(err.code, LBOX_E_DIGEST);
    assert_int_equal(lbox_store_put_blob_file(c->st, f, wrong, true, &err), -1);
    assert_int_equal(access(f, F_OK), 0); /* a refused move leaves the source alone */
    assert_int_equal(fx_count(c->blobs, ""), 0);
    /* a layer that fails half way (a socket after some files) */
    _cleanup_free_ char *t = lbox_path_join(c->root, "t");
    fx_write(t, "a/big", "0123456789");
    _cleanup_free_ char *s = lbox_path_join(t, "z");
    assert_int_equal(mknod(s, S_IFSOCK | 0600, 0), 0);
    struct lbox_layer l;
    assert_int_equal(lbox_layer_write_dir(c->st, t, EPOCH, &l, &err), -1);
    assert_int_equal(fx_count(c->blobs, ""), 0);
    /* and a correct one is stored under its digest */
    char hex[65], digest[72];
    must(lbox_sha256_file(f, hex, &err), &err);
    snprintf(digest, sizeof digest, "sha256:%s", hex);
    must(lbox_store_put_blob_file(c->st, f, digest, false, &err), &err);
    assert_true(lbox_store_has_blob(c->st, digest));
    assert_int_equal(fx_count(c->blobs, ""), 1);
}

static void corrupt_blob_detected(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char md[72];
    make_image(c, "c", "c", md);
    _cleanup_free_ char *mp = lbox_store_blob_path(c->st, md);
    FILE *fp = fopen(mp, "a");
    fputs(" ", fp);
    fclose(fp);
    _cleanup_free_ char *cfg = NULL;
    assert_int_equal(lbox_store_config(c->st, "c", &cfg, &err), -1);
    assert_int_equal(err.code, LBOX_E_DIGEST);
    /* It is removed, so that the next build writes it again rather than reusing it (other
     * images may share it: `lbox rm` of one would not help). */
    assert_non_null(strstr(err.msg, "it is removed from the store: build the image again"));
    assert_false(lbox_store_has_blob(c->st, md));
    assert_int_equal(lbox_store_config(c->st, "c", &cfg, &err), -1);
    assert_int_equal(err.code, LBOX_E_NOTFOUND);

    /* A layer so damaged that libarchive gives up first (no tar at all) is found corrupt
     * and removed too, not reported as a bad archive and kept. */
    make_image(c, "d", "d", md);
    json_t *man = lbox_store_load_manifest(c->st, md, &err);
    assert_non_null(man);
    char layer[72];
    snprintf(layer, sizeof layer, "%s", json_string_value(json_object_get(
        json_array_get(json_object_get(man, "layers"), 0), "digest")));
    json_decref(man);
    _cleanup_free_ char *lp = lbox_store_blob_path(c->st, layer);
    must(lbox_write_file_atomic(lp, "garbage", 7, 0644, &err), &err);
    _cleanup_free_ char *into = lbox_path_join(c->root, "into");
    assert_int_equal(mkdir(into, 0755), 0);
    assert_int_equal(lbox_store_extract_layer(c->st, layer, into, false, &err), -1);
    assert_int_equal(err.code, LBOX_E_DIGEST);
    assert_non_null(strstr(err.msg, "it is removed from the store"));
    assert_false(lbox_store_has_blob(c->st, layer));
}

/* INIT_START's facts: the node version from the label, and a runtime build that names the
 * base, node and runtime layers only, so the function's code does not change it. */
static void runtime_facts_name_the_runtime_layers(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    struct lbox_layer l[4];
    const char *names[] = {"base", "node", "runtime", "task"};
    for (int i = 0; i < 4; i++) {
        _cleanup_free_ char *t = lbox_strdupf("%s/facts-%d", c->root, i);
        fx_write(t, "f", names[i]);
        must(lbox_layer_write_dir(c->st, t, EPOCH, &l[i], &err), &err);
    }
    struct lbox_layer other = l[3];
    _cleanup_free_ char *t = lbox_strdupf("%s/facts-other", c->root);
    fx_write(t, "f", "other code");
    must(lbox_layer_write_dir(c->st, t, EPOCH, &l[3], &err), &err);
    struct lbox_image_spec spec = {.ref = "f:1", .runtime = "nodejs18.x", .arch = "x86_64",
                                   .node_version = "18.20.8", .handler = "index.handler",
                                   .layers = l, .layer_comments = names, .nlayers = 4,
                                   .created = EPOCH};
    char md[72];
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
    l[3] = other;
    spec.ref = "f:2";
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
    spec.ref = "f:3"; /* another runtime layer, and no label: an older lbox's image */
    l[2] = l[1];
    spec.node_version = NULL;
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
    spec.ref = "f:4"; /* a node version that is not the runtime's is not believed */
    spec.node_version = "20.1.0";
    must(lbox_image_commit(c->st, &spec, md, &err), &err);

    struct lbox_image_facts f1, f2, f3, f4;
    must(lbox_image_facts_read(c->st, "f:1", &f1, &err), &err);
    must(lbox_image_facts_read(c->st, "f:2", &f2, &err), &err);
    must(lbox_image_facts_read(c->st, "f:3", &f3, &err), &err);
    must(lbox_image_facts_read(c->st, "f:4", &f4, &err), &err);
    assert_string_equal(f1.runtime_version, "nodejs:18.20.8");
    assert_string_equal(f3.runtime_version, "nodejs:18");
    assert_string_equal(f4.runtime_version, "nodejs:18");
    assert_int_equal(strlen(f1.runtime_build), 64);
    assert_string_equal(f1.runtime_build, f2.runtime_build);
    assert_string_not_equal(f1.runtime_build, f3.runtime_build);
    lbox_image_facts_free(&f1);
    lbox_image_facts_free(&f2);
    lbox_image_facts_free(&f3);
    lbox_image_facts_free(&f4);

    /* an image lbox did not build names no runtime */
    spec.ref = "f:5";
    spec.runtime = "provided.al2";
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
    must(lbox_image_facts_read(c->st, "f:5", &f1, &err), &err);
    assert_null(f1.runtime_version);
    assert_null(f1.runtime_build);
    lbox_image_facts_free(&f1);
}

/* ---- unpacking ---- */

static void commit_layers(struct ctx *c, const char *ref, struct lbox_layer *ls, size_t n)
{
    struct lbox_error err;
    struct lbox_image_spec spec = {.ref = ref, .runtime = "nodejs18.x", .arch = "x86_64",
                                   .handler = "h.h", .layers = ls, .nlayers = n,
                                   .created = EPOCH};
    char md[72];
    must(lbox_image_commit(c->st, &spec, md, &err), &err);
}

static bool exists(const char *root, const char *rel)
{
    _cleanup_free_ char *p = lbox_path_join(root, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static void whiteouts_hide_lower_layers(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    _cleanup_free_ char *t1 = lbox_path_join(c->root, "l1");
    _cleanup_free_ char *t2 = lbox_path_join(c->root, "l2");
    fx_write(t1, "a/x", "x");
    fx_write(t1, "a/y", "y");
    fx_write(t1, "b/z", "z");
    fx_write(t1, "b/deep/q", "q");
    fx_write(t1, "c", "c");
    fx_write(t1, "d/file", "was a dir");
    fx_write(t2, "a/.wh.x", "");
    fx_write(t2, "b/.wh..wh..opq", "");
    fx_write(t2, "b/new", "new");
    fx_write(t2, ".wh.c", "");
    fx_write(t2, "d", "now a file");
    struct lbox_layer l[2];
    must(lbox_layer_write_dir(c->st, t1, EPOCH, &l[0], &err), &err);
    must(lbox_layer_write_dir(c->st, t2, EPOCH, &l[1], &err), &err);
    commit_layers(c, "wh", l, 2);
    _cleanup_free_ char *r = NULL;
    must(lbox_store_rootfs(c->st, "wh", &r, &err), &err);
    assert_false(exists(r, "a/x"));
    assert_true(exists(r, "a/y"));
    assert_false(exists(r, "b/z"));
    assert_false(exists(r, "b/deep"));
    assert_true(exists(r, "b/new"));
    assert_false(exists(r, "c"));
    assert_false(exists(r, ".wh.c"));
    assert_false(exists(r, "a/.wh.x"));
    struct stat st;
    _cleanup_free_ char *dp = lbox_path_join(r, "d");
    assert_int_equal(lstat(dp, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    /* cached: a second call returns the same directory */
    _cleanup_free_ char *again = NULL;
    must(lbox_store_rootfs(c->st, "wh", &again, &err), &err);
    assert_string_equal(r, again);
    _cleanup_free_ char *cache = lbox_cache_dir();
    _cleanup_free_ char *parent = lbox_path_join(cache, "rootfs");
    assert_int_equal(fx_count(parent, ".tmp"), 0);
}

/* Stores a hand-made (hostile) layer: entries given as path / type / link target. */
struct hentry {
    const char *path;
    mode_t type;
    const char *link;
};

static void store_layer_file(struct ctx *c, const char *p, struct lbox_layer *l);

static void hostile_layer(struct ctx *c, const struct hentry *es, size_t n, struct lbox_layer *l)
{
    _cleanup_free_ char *p = lbox_path_join(c->root, "hostile.tar.gz");
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, es[i].path);
        archive_entry_set_filetype(e, es[i].type);
        archive_entry_set_perm(e, 0644);
        if (es[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, es[i].link);
        else if (es[i].link)
            archive_entry_set_hardlink(e, es[i].link);
        else if (es[i].type == AE_IFREG)
            archive_entry_set_size(e, 4);
        archive_write_header(a, e);
        if (es[i].type == AE_IFREG && !es[i].link)
            archive_write_data(a, "evil", 4);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    store_layer_file(c, p, l);
}

/* Puts the layer file at p into the store as the blob *l describes. */
static void store_layer_file(struct ctx *c, const char *p, struct lbox_layer *l)
{
    char hex[65];
    struct lbox_error err;
    must(lbox_sha256_file(p, hex, &err), &err);
    snprintf(l->digest, sizeof l->digest, "sha256:%s", hex);
    snprintf(l->diff_id, sizeof l->diff_id, "sha256:%s", hex); /* not checked on unpack */
    struct stat st;
    stat(p, &st);
    l->size = (uint64_t)st.st_size;
    must(lbox_store_put_blob_file(c->st, p, l->digest, true, &err), &err);
}

static void hostile_layers_are_refused(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *outside = lbox_path_join(c->root, "outside");
    fx_mkdir(c->root, "outside");
    _cleanup_free_ char *abs_target = lbox_path_join(outside, "abs");
    const struct hentry dotdot[] = {{"ok", AE_IFREG, NULL}, {"a/../../outside/x", AE_IFREG, NULL}};
    const struct hentry absolute[] = {{abs_target, AE_IFREG, NULL}};
    const struct hentry via_link[] = {{"link", AE_IFLNK, outside}, {"link/pwned", AE_IFREG, NULL}};
    const struct hentry hard_out[] = {{"h", AE_IFREG, "../../../../etc/passwd"}};
    /* Whiteouts of "..", "." and "": would remove var, var/task, var/task. */
    const struct hentry wh_up[] = {{"var/task/x", AE_IFREG, NULL},
                                   {"var/task/.wh...", AE_IFREG, NULL}};
    const struct hentry wh_dot[] = {{"var/task/x", AE_IFREG, NULL},
                                    {"var/task/.wh..", AE_IFREG, NULL}};
    const struct hentry wh_empty[] = {{"var/task/x", AE_IFREG, NULL},
                                      {"var/task/.wh.", AE_IFREG, NULL}};
    const struct {
        const struct hentry *e;
        size_t n;
    } cases[] = {{dotdot, 2}, {absolute, 1}, {via_link, 2}, {hard_out, 1},
                 {wh_up, 2},  {wh_dot, 2},   {wh_empty, 2}};
    _cleanup_free_ char *cache = lbox_cache_dir();
    _cleanup_free_ char *parent = lbox_path_join(cache, "rootfs");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lbox_layer l;
        hostile_layer(c, cases[i].e, cases[i].n, &l);
        char ref[16];
        snprintf(ref, sizeof ref, "evil%zu", i);
        commit_layers(c, ref, &l, 1);
        char *r = NULL;
        struct lbox_error err = {0};
        assert_int_equal(lbox_store_rootfs(c->st, ref, &r, &err), -1);
        assert_int_equal(err.code, LBOX_E_ARCHIVE);
        assert_non_null(strstr(err.msg, "unsafe to unpack"));
        assert_null(r);
        assert_int_equal(fx_count(outside, ""), 0);
        assert_int_equal(fx_count(parent, ""), 0); /* no half-made rootfs left */
    }
}

static void unpacks_as_non_root(void **state)
{
    struct ctx *c = *state;
    /* as the caller, the same path runs in the other tests */
    SKIP_UNLESS(geteuid() == 0, "needs root to become another user");
    struct lbox_error err;
    _cleanup_free_ char *t = lbox_path_join(c->root, "ro");
    fx_write(t, "var/ro/file", "f");
    _cleanup_free_ char *ro = lbox_path_join(t, "var/ro");
    _cleanup_free_ char *rf = lbox_path_join(t, "var/ro/file");
    chmod(rf, 0000);
    chmod(ro, 0555);
    struct lbox_layer l;
    must(lbox_layer_write_dir(c->st, t, EPOCH, &l, &err), &err);
    commit_layers(c, "ro", &l, 1);
    _cleanup_free_ char *cache = lbox_path_join(c->root, "nobody-cache");
    fx_mkdir(c->root, "nobody-cache");
    assert_int_equal(chown(cache, 65534, 65534), 0);
    pid_t kid = fork();
    if (kid == 0) {
        setenv("XDG_CACHE_HOME", cache, 1);
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(10);
        struct lbox_store *st;
        char *r;
        if (lbox_store_open(c->store_dir, &st, &err) < 0)
            _exit(11);
        if (lbox_store_rootfs(st, "ro", &r, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            _exit(12);
        }
        _cleanup_free_ char *p = lbox_path_join(r, "var/ro/file");
        struct stat sb;
        if (stat(p, &sb) < 0 || (sb.st_mode & 07777) != 0400)
            _exit(13);
        if (lbox_rm_rf(r, &err) < 0 || access(r, F_OK) == 0)
            _exit(14);
        _exit(0);
    }
    int status;
    waitpid(kid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* True once nothing under the rootfs cache is named .trash-* (the detached deleter is done),
 * waiting at most 10 s. */
static bool trash_emptied(const char *cache)
{
    for (int i = 0; i < 1000; i++) {
        DIR *d = opendir(cache);
        bool any = false;
        struct dirent *de;
        while (d && (de = readdir(d)))
            any = any || !strncmp(de->d_name, ".trash-", 7);
        if (d)
            closedir(d);
        if (!any)
            return true;
        usleep(10000);
    }
    return false;
}

/* An unpacked image no store names (a deleted store's) goes once nobody has used it for
 * LBOX_ROOTFS_UNUSED_DAYS; one the store names stays however old, and so does one used
 * lately. */
static void long_unused_orphans_are_evicted(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char m[72], other[72];
    make_image(c, "fn", "one", m);
    struct lbox_store *user;
    must(lbox_store_open(c->store_dir, &user, &err), &err);
    _cleanup_free_ char *named = NULL;
    must(lbox_store_rootfs(user, "fn", &named, &err), &err);
    lbox_store_close(user);
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    char hex_old[65], hex_new[65];
    memset(hex_old, 'a', 64);
    memset(hex_new, 'b', 64);
    hex_old[64] = hex_new[64] = 0;
    _cleanup_free_ char *orphan_old = lbox_path_join(cache, hex_old);
    _cleanup_free_ char *orphan_new = lbox_path_join(cache, hex_new);
    fx_write(orphan_old, "var/task/index.js", "old");
    fx_write(orphan_new, "var/task/index.js", "new");
    time_t long_ago = time(NULL) - (time_t)(LBOX_ROOTFS_UNUSED_DAYS + 1) * 24 * 3600;
    const struct timespec aged[2] = {{.tv_sec = long_ago}, {.tv_nsec = UTIME_OMIT}};
    assert_int_equal(utimensat(AT_FDCWD, orphan_old, aged, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, named, aged, 0), 0);

    make_image(c, "other", "two", other); /* the tagging runs an eviction pass */
    assert_int_not_equal(access(orphan_old, F_OK), 0);
    assert_true(exists(orphan_new, "var/task/index.js"));
    assert_true(exists(named, "var/task/index.js"));

    /* A hold is a use: the orphan held just now is not old, whatever it was before. */
    assert_int_equal(utimensat(AT_FDCWD, orphan_new, aged, 0), 0);
    int fd;
    assert_int_equal(lbox_rootfs_hold(orphan_new, &fd, &err), 0);
    lbox_rootfs_release(orphan_new, fd);
    must(lbox_store_remove(c->st, "other", &err), &err);
    assert_true(exists(orphan_new, "var/task/index.js"));
}

static void rootfs_cache_follows_the_store(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char m1[72], m2[72], m2b[72], m3[72];
    make_image(c, "fn", "one", m1);

    /* Another store handle plays a running `lbox invoke` of fn: it holds m1's rootfs. */
    struct lbox_store *running;
    must(lbox_store_open(c->store_dir, &running, &err), &err);
    _cleanup_free_ char *r1 = NULL;
    must(lbox_store_rootfs(running, "fn", &r1, &err), &err);
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    _cleanup_free_ char *mark = lbox_strdupf("%s.evict", r1);

    /* A rebuild moves fn to m2: m1 is unreferenced but in use, so it stays, marked; the
     * invoke evicts it as it ends. */
    make_image(c, "fn", "two", m2);
    assert_string_not_equal(m1, m2);
    assert_true(exists(r1, "var/task/index.js"));
    assert_int_equal(access(mark, F_OK), 0);
    lbox_store_close(running);
    assert_int_not_equal(access(r1, F_OK), 0);
    assert_int_not_equal(access(mark, F_OK), 0);

    /* A holder killed before it could evict (its lock just vanishes): the next pass, here
     * the tagging of alias, takes the marked rootfs. */
    must(lbox_store_open(c->store_dir, &running, &err), &err);
    _cleanup_free_ char *r2 = NULL;
    must(lbox_store_rootfs(running, "fn", &r2, &err), &err);
    int killed;
    assert_int_equal(lbox_rootfs_hold(r2, &killed, &err), 0);
    lbox_store_close(running);
    _cleanup_free_ char *mark2 = lbox_strdupf("%s.evict", r2);
    make_image(c, "fn", "one", m1);
    assert_int_equal(access(mark2, F_OK), 0);
    close(killed);
    make_image(c, "alias", "one", m2b);
    assert_string_equal(m1, m2b);
    assert_int_not_equal(access(r2, F_OK), 0);
    assert_int_not_equal(access(mark2, F_OK), 0);
    must(lbox_store_open(c->store_dir, &running, &err), &err);
    _cleanup_free_ char *r1b = NULL;
    must(lbox_store_rootfs(running, "alias", &r1b, &err), &err);
    lbox_store_close(running);
    must(lbox_store_remove(c->st, "alias", &err), &err);
    assert_true(exists(r1b, "var/task/index.js")); /* fn still names it */

    /* A mark on an image the store names again (rebuilt to the same digest while the old
     * run went on) is dropped, not carried out. */
    assert_int_equal(lbox_rootfs_hold(r1b, &killed, &err), 0);
    _cleanup_free_ char *mark1 = lbox_strdupf("%s.evict", r1b);
    make_image(c, "fn", "two", m2);
    assert_int_equal(access(mark1, F_OK), 0);
    make_image(c, "fn", "one", m2b);
    assert_string_equal(m1, m2b);
    close(killed);
    make_image(c, "other", "four", m3);
    must(lbox_store_remove(c->st, "other", &err), &err);
    assert_true(exists(r1b, "var/task/index.js"));
    assert_int_not_equal(access(mark1, F_OK), 0);

    /* rm of an image nobody runs: its rootfs goes at once (renamed; deleted in the
     * background), and so does an hour-old leftover of a killed lbox. */
    make_image(c, "gone", "three", m3);
    struct lbox_store *once;
    must(lbox_store_open(c->store_dir, &once, &err), &err);
    _cleanup_free_ char *r3 = NULL;
    must(lbox_store_rootfs(once, "gone", &r3, &err), &err);
    lbox_store_close(once);
    fx_write(cache, ".trash-0123456789ab-1-1/f", "x");
    _cleanup_free_ char *old = lbox_path_join(cache, ".trash-0123456789ab-1-1");
    struct timespec two_hours_ago[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    assert_int_equal(utimensat(AT_FDCWD, old, two_hours_ago, AT_SYMLINK_NOFOLLOW), 0);
    must(lbox_store_remove(c->st, "gone", &err), &err);
    assert_int_not_equal(access(r3, F_OK), 0);
    assert_true(trash_emptied(cache));
    assert_true(exists(r1b, "var/task/index.js"));

    /* A holder that lost the race to an eviction is told to unpack again. */
    int fd;
    assert_int_equal(lbox_rootfs_hold(r1b, &fd, &err), 0);
    close(fd);
    assert_int_equal(lbox_rootfs_hold(r3, &fd, &err), 1);
    assert_int_equal(fd, -1);
}

/* An invoke resolves the tag once and reads that image's parts by digest; a rebuild that
 * moves the tag meanwhile must not collect them until the reader lets go. */
static void resolved_image_outlives_a_retag(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char old[72], new[72], got[72];
    make_image(c, "fn", "one", old);
    lbox_store_close(c->st); /* drop our own hold */
    must(lbox_store_open(c->store_dir, &c->st, &err), &err);

    struct lbox_store *reader;
    must(lbox_store_open(c->store_dir, &reader, &err), &err);
    must(lbox_store_resolve(reader, "fn", got, &err), &err);
    assert_string_equal(got, old);

    make_image(c, "fn", "two", new); /* the rebuild, through c->st */
    size_t removed = 99;
    must(lbox_store_gc(c->st, &removed, &err), &err);
    assert_int_equal(removed, 0); /* skipped: the reader holds the store */

    _cleanup_free_ char *cfg = NULL;
    must(lbox_store_config(reader, got, &cfg, &err), &err);
    _cleanup_free_ char *rootfs = NULL;
    must(lbox_store_rootfs(reader, got, &rootfs, &err), &err);
    assert_true(exists(rootfs, "var/task/index.js"));

    lbox_store_release(reader);
    must(lbox_store_gc(c->st, &removed, &err), &err);
    assert_true(removed > 0);
    assert_false(lbox_store_has_blob(c->st, old));
    assert_true(lbox_store_has_blob(c->st, new));
    lbox_store_close(reader);
}

/* `lbox images` reads the index, then each manifest and config: a rebuild's collection in
 * between would show a whole image as damaged ("?"), so listing holds the store too. */
static void listing_outlives_a_retag(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char old[72], new[72];
    make_image(c, "fn", "one", old);
    lbox_store_close(c->st); /* drop our own hold */
    must(lbox_store_open(c->store_dir, &c->st, &err), &err);
    struct lbox_store *lister;
    must(lbox_store_open(c->store_dir, &lister, &err), &err);
    struct lbox_store_image *imgs;
    size_t n, removed = 99;
    must(lbox_store_list(lister, &imgs, &n, &err), &err);
    lbox_store_images_free(imgs, n);
    make_image(c, "fn", "two", new);
    must(lbox_store_gc(c->st, &removed, &err), &err);
    assert_int_equal(removed, 0);
    lbox_store_close(lister);
    must(lbox_store_gc(c->st, &removed, &err), &err);
    assert_true(removed > 0);
}

/* ---- what killed processes leave behind ---- */

static bool gone_within_10s(const char *path)
{
    for (int i = 0; i < 1000 && access(path, F_OK) == 0; i++)
        usleep(10000);
    return access(path, F_OK) != 0;
}

/* An invoke killed while unpacking leaves a .tmp- folder of a few hundred MB: the next
 * unpack takes it back at once (not an hour later), and never one still being filled. */
static void killed_unpack_is_swept(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char md[72];
    make_image(c, "fn", "one", md);
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    fx_write(cache, ".tmp-0123456789ab-Killed/var/task/index.js", "x");
    fx_write(cache, ".tmp-0123456789ab-Filled/var/task/index.js", "x");
    _cleanup_free_ char *killed = lbox_path_join(cache, ".tmp-0123456789ab-Killed");
    _cleanup_free_ char *filling = lbox_path_join(cache, ".tmp-0123456789ab-Filled");
    int fd = open(filling, O_RDONLY | O_DIRECTORY); /* its unpacker, alive and locking it */
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);

    struct lbox_store *inv;
    must(lbox_store_open(c->store_dir, &inv, &err), &err);
    _cleanup_free_ char *r = NULL;
    must(lbox_store_rootfs(inv, "fn", &r, &err), &err);
    lbox_store_close(inv);
    assert_true(gone_within_10s(killed));
    assert_true(trash_emptied(cache));
    assert_true(exists(filling, "var/task/index.js"));

    /* its unpacker killed too: the next pass (any eviction) takes it */
    close(fd);
    must(lbox_store_remove(c->st, "fn", &err), &err);
    assert_true(gone_within_10s(filling));
    assert_true(trash_emptied(cache));
}

/* An lbox rm (or a rebuild) that untags an image while an invoke is still unpacking it finds
 * no rootfs to evict; the invoke, once done, must not leave it in the cache for good. */
static void untagged_while_unpacking_is_evicted_after_use(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char md[72], got[72];
    make_image(c, "fn", "one", md);
    struct lbox_store *inv;
    must(lbox_store_open(c->store_dir, &inv, &err), &err);
    must(lbox_store_resolve(inv, "fn", got, &err), &err);
    must(lbox_store_remove(c->st, "fn", &err), &err); /* the rm, before the rootfs exists */
    _cleanup_free_ char *r = NULL;
    must(lbox_store_rootfs(inv, got, &r, &err), &err);
    assert_true(exists(r, "var/task/index.js")); /* the invoke runs what it resolved */
    lbox_store_close(inv);
    assert_int_not_equal(access(r, F_OK), 0);
    _cleanup_free_ char *cache = lbox_rootfs_cache_dir();
    assert_true(trash_emptied(cache));

    /* an image still tagged stays unpacked after its run */
    make_image(c, "kept", "two", md);
    must(lbox_store_open(c->store_dir, &inv, &err), &err);
    _cleanup_free_ char *r2 = NULL;
    must(lbox_store_rootfs(inv, "kept", &r2, &err), &err);
    lbox_store_close(inv);
    assert_true(exists(r2, "var/task/index.js"));
}

/* ---- bases: the lower layers, unpacked once and shared by hard links ---- */

/* Appends one ustar header (and the data, padded) to f; a pax 'x' header first makes the
 * archive pax interchange, whose hard-link entries may carry data. */
static void tar_add(FILE *f, const char *name, char type, const char *link, const char *data)
{
    unsigned char h[512] = {0};
    size_t size = data ? strlen(data) : 0;
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
    snprintf((char *)h + 136, 12, "%011o", EPOCH);
    memset(h + 148, ' ', 8);
    h[156] = (unsigned char)type;
    if (link)
        snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar\0" "00", 8);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof h; i++)
        sum += h[i];
    snprintf((char *)h + 148, 7, "%06o", sum);
    fwrite(h, 1, sizeof h, f);
    static const char zeros[512];
    if (size) {
        fwrite(data, 1, size, f);
        fwrite(zeros, 1, (512 - size % 512) % 512, f);
    }
}

/* A top layer that replaces `replaced` and adds `hl`, a hard link to lower/shared that
 * carries data: libarchive writes that data through the link into lower/shared itself
 * (its own writer drops such data, so the bytes are laid out here). */
static void top_layer(struct ctx *c, const char *replacement, struct lbox_layer *l)
{
    _cleanup_free_ char *p = lbox_path_join(c->root, "top.tar");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    tar_add(f, "PaxHeaders/hl", 'x', NULL, "13 comment=x\n");
    tar_add(f, "replaced", '0', NULL, replacement);
    tar_add(f, "hl", '1', "lower/shared", "evil");
    static const char end[1024];
    fwrite(end, 1, sizeof end, f);
    assert_int_equal(fclose(f), 0);
    store_layer_file(c, p, l);
}

/* A listing of the tree under dir, one sorted line per entry: type, mode, owner, size,
 * content or link target (and the time, but for directories, which unpacking touches). Link
 * counts are left out: a shared file also counts its base's names. */
static char *tree_listing(const char *dir)
{
    _cleanup_free_ char *cmd = lbox_strdupf(
        "cd '%s' && find . -printf '%%p %%y %%m %%U:%%G %%s %%l\\n' | sort && "
        "find . ! -type d -printf '%%p %%T@\\n' | sort && "
        "find . -type f -exec sha256sum {} + | sort", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, n, m);
    assert_int_equal(pclose(p), 0);
    fclose(m);
    return out;
}

static ino_t inode_of(const char *root, const char *rel)
{
    _cleanup_free_ char *p = lbox_path_join(root, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_ino;
}

static char *content_of(const char *root, const char *rel)
{
    _cleanup_free_ char *p = lbox_path_join(root, rel);
    char *out = NULL;
    size_t len;
    struct lbox_error err;
    must(lbox_read_file(p, 1 << 20, &out, &len, &err), &err);
    return out;
}

/* The path of the one base in the rootfs cache (malloc'd), or NULL when there is none. */
static char *the_base(const char *cache)
{
    DIR *d = opendir(cache);
    struct dirent *de;
    char *base = NULL;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "base-", 5) && !strchr(de->d_name, '.')) {
            assert_null(base);
            base = lbox_path_join(cache, de->d_name);
        }
    if (d)
        closedir(d);
    return base;
}

/* An image of several layers unpacks as a hard-link copy of its lower layers, made once:
 * the same tree as unpacking every layer, sharing the lower files, and never writing into
 * them (the hard link with data in the top layer gets a copy of its own). */
static void lower_layers_are_shared(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    _cleanup_free_ char *t1 = lbox_path_join(c->root, "lower-tree");
    fx_write(t1, "lower/shared", "orig");
    fx_write(t1, "lower/other", "other");
    fx_write(t1, "replaced", "old");
    fx_write(t1, "ro/file", "read-only");
    fx_write(t1, "sgid/file", "s");
    _cleanup_free_ char *ln = lbox_path_join(t1, "link");
    assert_int_equal(symlink("lower/shared", ln), 0);
    _cleanup_free_ char *ro = lbox_path_join(t1, "ro");
    _cleanup_free_ char *sg = lbox_path_join(t1, "sgid");
    _cleanup_free_ char *other = lbox_path_join(t1, "lower/other");
    assert_int_equal(chmod(other, 0640), 0);
    assert_int_equal(chmod(sg, 02775), 0);
    assert_int_equal(chmod(ro, 0555), 0);
    struct lbox_layer l[2];
    must(lbox_layer_write_dir(c->st, t1, EPOCH, &l[0], &err), &err);
    top_layer(c, "new!", &l[1]);
    commit_layers(c, "one", l, 2);

    _cleanup_free_ char *r = NULL;
    must(lbox_store_rootfs(c->st, "one", &r, &err), &err);
    _cleanup_free_ char *rootfs_cache = lbox_rootfs_cache_dir();
    _cleanup_free_ char *base = the_base(rootfs_cache);
    assert_non_null(base);

    /* the same tree as unpacking each layer in turn */
    char md[72];
    must(lbox_store_resolve(c->st, "one", md, &err), &err);
    _cleanup_free_ char *full = lbox_path_join(c->root, "full");
    fx_mkdir(c->root, "full");
    must(lbox_store_unpack(c->st, md, full, &err), &err);
    _cleanup_free_ char *want = tree_listing(full);
    _cleanup_free_ char *got = tree_listing(r);
    assert_string_equal(got, want);

    /* lower files shared with the base; what the top layer wrote is the image's own */
    assert_int_equal(inode_of(r, "lower/other"), inode_of(base, "lower/other"));
    assert_int_equal(inode_of(r, "link"), inode_of(base, "link"));
    assert_int_not_equal(inode_of(r, "replaced"), inode_of(base, "replaced"));
    assert_int_equal(inode_of(r, "hl"), inode_of(r, "lower/shared"));
    assert_int_not_equal(inode_of(r, "lower/shared"), inode_of(base, "lower/shared"));
    _cleanup_free_ char *shared = content_of(r, "lower/shared");
    _cleanup_free_ char *kept = content_of(base, "lower/shared");
    _cleanup_free_ char *old = content_of(base, "replaced");
    assert_string_equal(shared, "evil");
    assert_string_equal(kept, "orig");
    assert_string_equal(old, "old");

    /* a second image on the same lower layers links from the same base */
    ino_t base_ino = inode_of(base, ".");
    struct lbox_layer l2[2] = {l[0]};
    top_layer(c, "two!", &l2[1]);
    commit_layers(c, "two", l2, 2);
    _cleanup_free_ char *r2 = NULL;
    must(lbox_store_rootfs(c->st, "two", &r2, &err), &err);
    assert_string_not_equal(r, r2);
    assert_int_equal(inode_of(base, "."), base_ino);
    assert_int_equal(inode_of(r2, "lower/other"), inode_of(base, "lower/other"));
    _cleanup_free_ char *two = content_of(r2, "replaced");
    assert_string_equal(two, "two!");
    assert_int_equal(fx_count(rootfs_cache, ".tmp"), 0);

    /* the base stays while an image names it, and goes with the last one */
    lbox_store_close(c->st); /* drops the holds this handle took */
    must(lbox_store_open(c->store_dir, &c->st, &err), &err);
    must(lbox_store_remove(c->st, "one", &err), &err);
    assert_true(gone_within_10s(r));
    assert_int_equal(access(base, F_OK), 0);
    _cleanup_free_ char *still = content_of(r2, "lower/other");
    assert_string_equal(still, "other");
    must(lbox_store_remove(c->st, "two", &err), &err);
    assert_true(gone_within_10s(base));
    assert_true(gone_within_10s(r2));
    assert_true(trash_emptied(rootfs_cache));
}

/* An lbox killed while saving index.json leaves index.json.tmp.<pid>; collection removes it. */
static void killed_index_write_is_swept(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    char md[72];
    make_image(c, "fn", "one", md);
    fx_write(c->store_dir, "index.json.tmp.4242", "{\"half");
    _cleanup_free_ char *t = lbox_path_join(c->store_dir, "index.json.tmp.4242");
    must(lbox_store_gc(c->st, NULL, &err), &err);
    assert_int_not_equal(access(t, F_OK), 0);
    _cleanup_free_ char *cfg = NULL;
    must(lbox_store_config(c->st, "fn", &cfg, &err), &err);
}

static bool is_tmp_name(const char *name) { return strstr(name, ".tmp") != NULL; }
static bool is_stage_name(const char *name) { return !strncmp(name, "build-", 6); }

/* Makes `levels` nested folders of 200-character names under dir (a path far past
 * PATH_MAX), each with a file, the deepest read-only; returns how deep it got. */
static int deep_tree(const char *dir, int levels)
{
    char name[201];
    memset(name, 'd', 200);
    name[200] = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int made = 0;
    for (; fd >= 0 && made < levels; made++) {
        int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
        if (f >= 0)
            close(f);
        if (mkdirat(fd, name, 0755) < 0)
            break;
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
    }
    if (fd >= 0) {
        fchmod(fd, 0500);
        close(fd);
    }
    return made;
}

/* What an npm install script left in a staging folder: deeper than any path can name. */
static void trees_deeper_than_a_path_are_removed(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    _cleanup_free_ char *dir = lbox_path_join(c->root, "deep");
    _cleanup_free_ char *stage = lbox_path_join(c->root, "deep/build-leftover");
    assert_int_equal(lbox_mkdir_p(stage, 0755, &err), 0);
    assert_int_equal(deep_tree(stage, 40), 40); /* 40 x 201 bytes: twice PATH_MAX */
    must(lbox_rm_rf(stage, &err), &err);
    assert_int_not_equal(access(stage, F_OK), 0);

    /* ... and a later build's sweep takes such a leftover too */
    assert_int_equal(lbox_mkdir_p(stage, 0755, &err), 0);
    assert_int_equal(deep_tree(stage, 40), 40);
    assert_int_equal(lbox_cache_sweep(dir, is_stage_name), 1);
    assert_int_not_equal(access(stage, F_OK), 0);
}

/* The cache's temporary entries: the maker's lock is what tells work in progress from a
 * killed maker's leftover, whatever their age. */
static void cache_temps_are_locked_until_done(void **state)
{
    struct ctx *c = *state;
    struct lbox_error err;
    _cleanup_free_ char *dir = lbox_path_join(c->root, "cachedir");
    fx_write(dir, "keep", "a finished entry");
    _cleanup_free_ char *f = lbox_path_join(dir, "blob.tmp-XXXXXX");
    _cleanup_free_ char *d = lbox_path_join(dir, "stage.tmp-XXXXXX");
    int ffd, dfd;
    must(lbox_cache_temp(f, false, &ffd, &err), &err);
    must(lbox_cache_temp(d, true, &dfd, &err), &err);
    assert_int_equal(write(ffd, "partial", 7), 7);
    fx_write(d, "sub/file", "x");
    fx_write(dir, "old.tmp.99999", "left by an lbox before locks");

    /* another process sweeps: the held ones stay */
    pid_t kid = fork();
    if (kid == 0)
        _exit(lbox_cache_sweep(dir, is_tmp_name) == 1 ? 0 : 1);
    int status;
    waitpid(kid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(access(f, F_OK), 0);
    assert_true(exists(d, "sub/file"));
    int busy;
    assert_int_equal(lbox_cache_lock_temp(f, &busy), -1);

    /* their maker dies (its locks go): the next sweep takes both, and only them */
    close(ffd);
    close(dfd);
    assert_int_equal(lbox_cache_sweep(dir, is_tmp_name), 2);
    assert_int_not_equal(access(f, F_OK), 0);
    assert_int_not_equal(access(d, F_OK), 0);
    assert_true(exists(dir, "keep"));

    /* an unwritable folder is an error that names it */
    _cleanup_free_ char *nodir = lbox_path_join(c->root, "missing/x.tmp-XXXXXX");
    assert_int_equal(lbox_cache_temp(nodir, false, &ffd, &err), -1);
    assert_non_null(strstr(err.msg, "missing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tag_resolve_list_remove_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_refs_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(bare_tags_of_other_tools, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_tags_all_land, setup, teardown),
        cmocka_unit_test_setup_teardown(busy_after_bounded_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(gc_waits_for_other_holders, setup, teardown),
        cmocka_unit_test_setup_teardown(resolved_image_outlives_a_retag, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_writes_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_blob_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(runtime_facts_name_the_runtime_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(whiteouts_hide_lower_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_layers_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unpacks_as_non_root, setup, teardown),
        cmocka_unit_test_setup_teardown(rootfs_cache_follows_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(long_unused_orphans_are_evicted, setup, teardown),
        cmocka_unit_test_setup_teardown(lower_layers_are_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(listing_outlives_a_retag, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_unpack_is_swept, setup, teardown),
        cmocka_unit_test_setup_teardown(untagged_while_unpacking_is_evicted_after_use, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(killed_index_write_is_swept, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_outlives_a_failed_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(hold_waits_for_a_stopped_collection_only_so_long, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(skipped_collection_keeps_the_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_temps_are_locked_until_done, setup, teardown),
        cmocka_unit_test_setup_teardown(trees_deeper_than_a_path_are_removed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
