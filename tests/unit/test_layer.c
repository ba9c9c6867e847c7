/* Reproducible layers: same tree -> same bytes; content matters, disk metadata does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/time.h>

#include <stdbool.h>

#include "builder/image.h"
#include "common/cleanup.h"
#include "builder/layer.h"
#include "builder/store.h"
#include "oci_fixture.h"

#define EPOCH 1700000000

struct ctx {
    char *root;  /* temp root: store/, tree/, ... */
    char *tree;
    struct lbox_store *st;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    c->root = fx_private_xdg();
    c->tree = lbox_path_join(c->root, "tree");
    fx_write(c->tree, "var/task/index.js", "exports.handler = async () => 'hi';\n");
    fx_write(c->tree, "var/task/lib/util.js", "module.exports = 1;\n");
    fx_write(c->tree, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    fx_write(c->tree, "tmp/scratch", "x");
    fx_mkdir(c->tree, "opt");
    _cleanup_free_ char *store = lbox_path_join(c->root, "store");
    struct lbox_error err;
    assert_int_equal(lbox_store_open(store, &c->st, &err), 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    lbox_store_close(c->st);
    fx_rm(c->root);
    free(c->root);
    free(c->tree);
    free(c);
    return 0;
}

static void write_layer(struct ctx *c, const char *tree, struct lbox_layer *l)
{
    struct lbox_error err = {0};
    int r = lbox_layer_write_dir(c->st, tree, EPOCH, l, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
}

static char *read_blob(struct ctx *c, const char *digest, size_t *len)
{
    char *data;
    struct lbox_error err;
    assert_int_equal(lbox_store_read_blob(c->st, digest, 0, &data, len, &err), 0);
    return data;
}

static void same_tree_same_digest(void **state)
{
    struct ctx *c = *state;
    struct lbox_layer a, b;
    write_layer(c, c->tree, &a);
    write_layer(c, c->tree, &b);
    assert_string_equal(a.digest, b.digest);
    assert_string_equal(a.diff_id, b.diff_id);
    assert_int_equal(a.size, b.size);
    assert_true(lbox_store_has_blob(c->st, a.digest));
    _cleanup_free_ char *blobs = lbox_path_join(lbox_store_dir(c->st), "blobs/sha256");
    assert_int_equal(fx_count(blobs, ".tmp"), 0);
}

static void one_byte_changes_digest(void **state)
{
    struct ctx *c = *state;
    struct lbox_layer a, b;
    write_layer(c, c->tree, &a);
    fx_write(c->tree, "var/task/lib/util.js", "module.exports = 2;\n");
    write_layer(c, c->tree, &b);
    assert_string_not_equal(a.digest, b.digest);
    assert_string_not_equal(a.diff_id, b.diff_id);
}

static void disk_metadata_does_not_matter(void **state)
{
    struct ctx *c = *state;
    struct lbox_layer a, b;
    write_layer(c, c->tree, &a);
    /* a copy: new inodes, new directory order, other times and owners */
    _cleanup_free_ char *copy = lbox_path_join(c->root, "copy");
    _cleanup_free_ char *cmd = lbox_strdupf("cp -r %s %s", c->tree, copy);
    assert_int_equal(system(cmd), 0);
    _cleanup_free_ char *f = lbox_path_join(copy, "var/task/index.js");
    struct timeval tv[2] = {{12345, 0}, {12345, 0}};
    assert_int_equal(utimes(f, tv), 0);
    if (geteuid() == 0) {
        assert_int_equal(lchown(f, 1234, 5678), 0);
        _cleanup_free_ char *d = lbox_path_join(copy, "var");
        assert_int_equal(lchown(d, 42, 42), 0);
    }
    write_layer(c, copy, &b);
    assert_string_equal(a.digest, b.digest);
    assert_string_equal(a.diff_id, b.diff_id);
}

static void diff_id_is_sha256_of_gunzipped_blob(void **state)
{
    struct ctx *c = *state;
    struct lbox_layer a;
    write_layer(c, c->tree, &a);
    size_t len;
    _cleanup_free_ char *blob = read_blob(c, a.digest, &len);
    assert_int_equal(len, a.size);
    char want[72];
    fx_gunzip_digest(blob, len, want);
    assert_string_equal(a.diff_id, want);
    /* gzip header: magic, deflate, no FNAME flag, MTIME 0 */
    assert_int_equal((unsigned char)blob[0], 0x1f);
    assert_int_equal((unsigned char)blob[1], 0x8b);
    assert_int_equal(blob[3] & 0x08, 0);
    assert_memory_equal(blob + 4, "\0\0\0\0", 4);
}

/* Entries of a layer blob, in order, with what the rules fix. */
static void entries_follow_the_rules(void **state)
{
    struct ctx *c = *state;
    struct lbox_layer a;
    write_layer(c, c->tree, &a);
    size_t len;
    _cleanup_free_ char *blob = read_blob(c, a.digest, &len);
    struct archive *ar = archive_read_new();
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_tar(ar);
    assert_int_equal(archive_read_open_memory(ar, blob, len), ARCHIVE_OK);
    struct archive_entry *e;
    char prev[4096] = "";
    int n = 0;
    bool saw_tmp = false;
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        char name[4096];
        snprintf(name, sizeof name, "%s", archive_entry_pathname(e));
        size_t l = strlen(name);
        if (l && name[l - 1] == '/')
            name[l - 1] = '\0';
        assert_true(strcmp(prev, name) < 0); /* sorted, no duplicates */
        snprintf(prev, sizeof prev, "%s", name);
        assert_int_equal(archive_entry_mtime(e), EPOCH);
        assert_false(archive_entry_atime_is_set(e));
        assert_false(archive_entry_ctime_is_set(e));
        assert_false(archive_entry_birthtime_is_set(e));
        assert_true(archive_entry_uname(e) == NULL || !*archive_entry_uname(e));
        assert_true(archive_entry_gname(e) == NULL || !*archive_entry_gname(e));
        if (!strncmp(name, "tmp/", 4)) {
            saw_tmp = true;
            assert_int_equal(archive_entry_uid(e), 993);
            assert_int_equal(archive_entry_gid(e), 990);
        } else {
            assert_int_equal(archive_entry_uid(e), 0);
            assert_int_equal(archive_entry_gid(e), 0);
        }
        n++;
    }
    assert_true(saw_tmp);
    assert_int_equal(n, 10); /* etc etc/passwd opt tmp tmp/scratch var var/task +3 */
    archive_read_free(ar);
}

static void links_round_trip(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *t = lbox_path_join(c->root, "links");
    fx_write(t, "var/task/a.txt", "shared body\n");
    _cleanup_free_ char *a = lbox_path_join(t, "var/task/a.txt");
    _cleanup_free_ char *b = lbox_path_join(t, "var/task/b.txt");
    _cleanup_free_ char *s = lbox_path_join(t, "var/task/s.txt");
    _cleanup_free_ char *dangling = lbox_path_join(t, "var/task/dangling");
    assert_int_equal(link(a, b), 0);
    assert_int_equal(symlink("a.txt", s), 0);
    assert_int_equal(symlink("/nowhere/at/all", dangling), 0);
    struct lbox_layer l;
    write_layer(c, t, &l);

    /* in the tar: b is a link entry to the sorted-first path a, with no body */
    size_t len;
    _cleanup_free_ char *blob = read_blob(c, l.digest, &len);
    struct archive *ar = archive_read_new();
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_tar(ar);
    assert_int_equal(archive_read_open_memory(ar, blob, len), ARCHIVE_OK);
    struct archive_entry *e;
    int seen = 0;
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        if (!strcmp(p, "var/task/b.txt")) {
            assert_string_equal(archive_entry_hardlink(e), "var/task/a.txt");
            assert_int_equal(archive_entry_size(e), 0);
            seen++;
        } else if (!strcmp(p, "var/task/a.txt")) {
            assert_null(archive_entry_hardlink(e));
            assert_int_equal(archive_entry_size(e), 12);
            seen++;
        } else if (!strcmp(p, "var/task/s.txt")) {
            assert_string_equal(archive_entry_symlink(e), "a.txt");
            seen++;
        } else if (!strcmp(p, "var/task/dangling")) {
            assert_string_equal(archive_entry_symlink(e), "/nowhere/at/all");
            seen++;
        }
    }
    assert_int_equal(seen, 4);
    archive_read_free(ar);

    /* and back onto disk through the store */
    struct lbox_image_spec spec = {.ref = "links:1", .runtime = "nodejs18.x", .arch = "x86_64",
                                   .handler = "index.handler", .layers = &l, .nlayers = 1,
                                   .created = EPOCH};
    struct lbox_error err;
    char md[72];
    assert_int_equal(lbox_image_commit(c->st, &spec, md, &err), 0);
    _cleanup_free_ char *rootfs = NULL;
    if (lbox_store_rootfs(c->st, "links:1", &rootfs, &err) < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *ra = lbox_path_join(rootfs, "var/task/a.txt");
    _cleanup_free_ char *rb = lbox_path_join(rootfs, "var/task/b.txt");
    _cleanup_free_ char *rs = lbox_path_join(rootfs, "var/task/s.txt");
    _cleanup_free_ char *rd = lbox_path_join(rootfs, "var/task/dangling");
    struct stat sa, sb, ss;
    assert_int_equal(stat(ra, &sa), 0);
    assert_int_equal(stat(rb, &sb), 0);
    assert_int_equal(sa.st_ino, sb.st_ino);
    assert_int_equal(sa.st_nlink, 2);
    assert_int_equal(lstat(rs, &ss), 0);
    assert_true(S_ISLNK(ss.st_mode));
    char target[256] = "";
    assert_int_equal(readlink(rd, target, sizeof target - 1), 15);
    assert_string_equal(target, "/nowhere/at/all");
    char *body;
    size_t blen;
    assert_int_equal(lbox_read_file(rs, 0, &body, &blen, &err), 0);
    assert_string_equal(body, "shared body\n");
    free(body);
}

static void socket_is_refused(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *t = lbox_path_join(c->root, "sock");
    fx_write(t, "a", "a");
    _cleanup_free_ char *p = lbox_path_join(t, "zz.sock");
    assert_int_equal(mknod(p, S_IFSOCK | 0644, 0), 0);
    _cleanup_free_ char *blobs = lbox_path_join(lbox_store_dir(c->st), "blobs/sha256");
    size_t before = fx_count(blobs, "");
    struct lbox_layer l;
    struct lbox_error err = {0};
    assert_int_equal(lbox_layer_write_dir(c->st, t, EPOCH, &l, &err), -1);
    assert_int_equal(err.code, LBOX_E_INVAL);
    assert_non_null(strstr(err.msg, "zz.sock"));
    assert_int_equal(fx_count(blobs, ""), before); /* no partial blob, no temp file */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_tree_same_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(one_byte_changes_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_metadata_does_not_matter, setup, teardown),
        cmocka_unit_test_setup_teardown(diff_id_is_sha256_of_gunzipped_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(entries_follow_the_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(links_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
