/* builder/extract.c: a write that fails while unpacking says why (the errno libarchive's disk
 * writer saw), not only libarchive's "Write failed". A full disk cannot be made here without
 * root, so a file-size limit (EFBIG) stands in for it: the same write path fails. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "builder/extract.h"
#include "common/fsutil.h"

/* Writes a .tar.gz holding package/big (size bytes of zeros) and package/small. */
static void make_tarball(const char *path, size_t size)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    char *zeros = calloc(1, size);
    const struct { const char *name; const char *data; size_t len; } files[] = {
        {"package/small", "hi\n", 3},
        {"package/big", zeros, size},
    };
    for (size_t i = 0; i < 2; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, files[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)files[i].len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, files[i].data, files[i].len), (la_ssize_t)files[i].len);
        archive_entry_free(e);
    }
    free(zeros);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void test_write_failure_names_its_cause(void **st)
{
    (void)st;
    char dir[] = "/tmp/lbox-test-extract-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *tgz = lbox_path_join(dir, "p.tgz"), *dest = lbox_path_join(dir, "out");
    make_tarball(tgz, 1 << 20);

    /* Files may not grow past 64 KiB: writing package/big fails with EFBIG. */
    struct rlimit old, small = {.rlim_cur = 64 << 10, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    struct lbox_error err = {0};
    int rc = lbox_extract_subtree(tgz, "package/", dest, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);

    assert_int_equal(rc, -1);
    if (!strstr(err.msg, strerror(EFBIG)) || !strstr(err.msg, "big"))
        fail_msg("error without its cause or file: %s", err.msg);

    /* Without the limit the same tarball unpacks. */
    lbox_rm_rf(dest, NULL);
    struct lbox_error err2 = {0};
    assert_int_equal(lbox_extract_subtree(tgz, "package/", dest, NULL, &err2), 0);

    lbox_rm_rf(dir, NULL);
    free(tgz);
    free(dest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_failure_names_its_cause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
