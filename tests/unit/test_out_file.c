/* Output files the user asked for (lbox_out_open): complete or absent, and no temporary
 * name left behind by an abandoned or killed writer, with or without O_TMPFILE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "skip_unless.h"

#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "builder/cache_temp.h"
#include "common/cleanup.h"
#include "oci_fixture.h"

struct ctx {
    char *dir;
    char *out; /* dir/out.tar */
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    c->dir = fx_tmpdir();
    c->out = lbox_path_join(c->dir, "out.tar");
    fx_write(c->dir, "keep", "the user's\n");
    lbox_out_no_tmpfile = false;
    *state = c;
    return 0;
}

static int setup_fallback(void **state)
{
    setup(state);
    lbox_out_no_tmpfile = true;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    lbox_out_no_tmpfile = false;
    fx_rm(c->dir);
    free(c->dir);
    free(c->out);
    free(c);
    return 0;
}

/* The names in `dir`, sorted, joined by spaces: what a user would see with ls -A. */
static char *listing(const char *dir)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t n;
    char **names = lbox_dir_names_at(fd, &n);
    assert_non_null(names);
    char *s = lbox_xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = lbox_strdupf("%s%s%s", s, i ? " " : "", names[i]);
        free(s);
        s = t;
        free(names[i]);
    }
    free(names);
    return s;
}

static void assert_listing(const char *dir, const char *want)
{
    _cleanup_free_ char *got = listing(dir);
    assert_string_equal(got, want);
}

static void assert_content(const char *path, const char *want)
{
    char *data;
    struct lbox_error err;
    if (lbox_read_file(path, 0, &data, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(data, want);
    free(data);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0644);
}

static void write_out(struct ctx *c, const char *data)
{
    struct lbox_out_file f;
    struct lbox_error err;
    if (lbox_out_open(&f, c->out, 0644, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(lbox_write_all(f.fd, data, strlen(data)), 0);
    if (lbox_out_commit(&f, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(f.fd, -1);
}

/* A child opens the output, writes half of it and is killed (kill -9) before committing. */
static void killed_writer(struct ctx *c)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct lbox_out_file f;
        if (lbox_out_open(&f, c->out, 0644, NULL) < 0)
            _exit(1);
        lbox_write_all(f.fd, "half", 4);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void commit_makes_exactly_the_file(void **state)
{
    struct ctx *c = *state;
    write_out(c, "complete\n");
    assert_listing(c->dir, "keep out.tar");
    assert_content(c->out, "complete\n");
}

static void commit_replaces_an_existing_file(void **state)
{
    struct ctx *c = *state;
    fx_write(c->dir, "out.tar", "old\n");
    _cleanup_close_ int old = open(c->out, O_RDONLY | O_CLOEXEC);
    write_out(c, "new\n");
    assert_listing(c->dir, "keep out.tar");
    assert_content(c->out, "new\n");
    /* renamed over, not rewritten: a reader of the old file still reads it whole */
    char buf[8] = {0};
    assert_int_equal(read(old, buf, sizeof buf - 1), 4);
    assert_string_equal(buf, "old\n");
}

static void nothing_appears_before_commit(void **state)
{
    struct ctx *c = *state;
    struct lbox_out_file f;
    struct lbox_error err;
    if (lbox_out_open(&f, c->out, 0644, &err) < 0)
        fail_msg("%s", err.msg);
    assert_null(f.tmp);
    assert_listing(c->dir, "keep");
    lbox_out_abandon(&f);
}

static void abandoning_leaves_nothing(void **state)
{
    struct ctx *c = *state;
    fx_write(c->dir, "out.tar", "old\n");
    {
        _cleanup_out_file_ struct lbox_out_file f;
        struct lbox_error err;
        if (lbox_out_open(&f, c->out, 0644, &err) < 0)
            fail_msg("%s", err.msg);
        assert_int_equal(lbox_write_all(f.fd, "partial", 7), 0);
    } /* a writer that fails returns without committing */
    assert_listing(c->dir, "keep out.tar");
    assert_content(c->out, "old\n");
    struct lbox_out_file f;
    struct lbox_error err;
    if (lbox_out_open(&f, c->out, 0644, &err) < 0)
        fail_msg("%s", err.msg);
    lbox_out_abandon(&f);
    lbox_out_abandon(&f); /* released: nothing more to do */
    assert_listing(c->dir, "keep out.tar");
}

static void a_killed_writer_leaves_nothing(void **state)
{
    struct ctx *c = *state;
    killed_writer(c);
    assert_listing(c->dir, "keep");
}

static void a_missing_folder_is_named(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *p = lbox_path_join(c->dir, "no/such/out.tar");
    struct lbox_out_file f;
    struct lbox_error err = {0};
    assert_int_equal(lbox_out_open(&f, p, 0644, &err), -1);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(f.fd, -1);
    assert_null(f.path);
}

/* Without O_TMPFILE (lbox_out_no_tmpfile): a locked temporary name, which abandoning
 * removes and the next export's sweep takes when its writer was killed. */
static void fallback_commits_and_abandons(void **state)
{
    struct ctx *c = *state;
    struct lbox_out_file f;
    struct lbox_error err;
    if (lbox_out_open(&f, c->out, 0644, &err) < 0)
        fail_msg("%s", err.msg);
    assert_non_null(f.tmp);
    assert_int_equal(fx_count(c->dir, "out.tar.lbox-tmp-"), 1);
    assert_int_equal(lbox_cache_sweep_siblings(c->out), 0); /* held: not swept */
    assert_int_equal(fx_count(c->dir, "out.tar.lbox-tmp-"), 1);
    lbox_out_abandon(&f);
    assert_listing(c->dir, "keep");

    fx_write(c->dir, "out.tar", "old\n");
    write_out(c, "complete\n");
    assert_listing(c->dir, "keep out.tar");
    assert_content(c->out, "complete\n");
}

static void fallback_leftover_of_a_killed_writer_is_swept(void **state)
{
    struct ctx *c = *state;
    killed_writer(c);
    assert_int_equal(fx_count(c->dir, "out.tar.lbox-tmp-"), 1);
    assert_int_equal(lbox_cache_sweep_siblings(c->out), 1);
    assert_listing(c->dir, "keep");
}

/* Where /proc is missing the unnamed file could never be linked: the fallback is taken. */
static void without_proc_the_fallback_is_taken(void **state)
{
    struct ctx *c = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            umount2("/proc", MNT_DETACH) < 0)
            _exit(77);
        struct lbox_out_file f;
        if (lbox_out_open(&f, c->out, 0644, NULL) < 0 || !f.tmp)
            _exit(1);
        if (lbox_write_all(f.fd, "no proc\n", 8) < 0 || lbox_out_commit(&f, NULL) < 0)
            _exit(2);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    SKIP_UNLESS(WEXITSTATUS(status) != 77, "needs root (a mount namespace)");
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_listing(c->dir, "keep out.tar");
    assert_content(c->out, "no proc\n");
}

/* The sweep takes only `<out>.lbox-tmp-XXXXXX` entries nobody holds, files and folders. */
static void sweep_takes_only_unheld_temporaries_of_the_path(void **state)
{
    struct ctx *c = *state;
    fx_write(c->dir, "out.tar.lbox-tmp-abc123", "killed\n");
    fx_write(c->dir, "out.tar.lbox-tmp-Zz9Yy8/var/task/index.js", "killed folder\n");
    fx_write(c->dir, "out.tar.lbox-tmp-HeLd00", "running\n");
    fx_write(c->dir, "out.tar.lbox-tmp-bak", "the user's\n");
    fx_write(c->dir, "out.tar.lbox-tmp-ab.123", "the user's\n");
    fx_write(c->dir, "out.tar.lbox-tmp-abc1234", "the user's\n");
    fx_write(c->dir, "other.lbox-tmp-abc123", "the user's\n");
    fx_write(c->dir, "out.tar.tmp-backup", "the user's\n"); /* mkstemp's shape, not lbox's */
    fx_write(c->dir, "out.tar", "the last export\n");
    _cleanup_free_ char *held = lbox_path_join(c->dir, "out.tar.lbox-tmp-HeLd00");
    _cleanup_close_ int lock = open(held, O_RDONLY | O_CLOEXEC);
    assert_int_equal(flock(lock, LOCK_EX), 0);

    assert_int_equal(lbox_cache_sweep_siblings(c->out), 2);
    assert_listing(c->dir, "keep other.lbox-tmp-abc123 out.tar out.tar.lbox-tmp-HeLd00 "
                           "out.tar.lbox-tmp-ab.123 out.tar.lbox-tmp-abc1234 out.tar.lbox-tmp-bak "
                           "out.tar.tmp-backup");
    _cleanup_free_ char *slash = lbox_strdupf("%s/", c->dir);
    assert_int_equal(lbox_cache_sweep_siblings(slash), 0);
}

/* The same test again, the file system taken to have no O_TMPFILE. */
#define WITHOUT_TMPFILE(f) {#f " (without O_TMPFILE)", f, setup_fallback, teardown, NULL}

/* Without HOME, the store and cache go in the home the password database gives, never in a
 * shared folder such as /tmp where another user could have planted them. */
static void without_home_the_password_database_says(void **state)
{
    (void)state;
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *data = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *cache = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    unsetenv("HOME");
    unsetenv("XDG_DATA_HOME");
    setenv("XDG_CACHE_HOME", "relative/is/ignored", 1);
    struct passwd *pw = getpwuid(getuid());
    const char *want = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/nonexistent";
    _cleanup_free_ char *d = lbox_data_dir(), *c = lbox_cache_dir();
    _cleanup_free_ char *wd = lbox_strdupf("%s/.local/share/lbox", want);
    _cleanup_free_ char *wc = lbox_strdupf("%s/.cache/lbox", want);
    assert_string_equal(d, wd);
    assert_string_equal(c, wc);
    assert_null(strstr(d, "/tmp/"));
    if (home)
        setenv("HOME", home, 1);
    if (data)
        setenv("XDG_DATA_HOME", data, 1);
    if (cache)
        setenv("XDG_CACHE_HOME", cache, 1);
    else
        unsetenv("XDG_CACHE_HOME");
    free(home);
    free(data);
    free(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(commit_makes_exactly_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_replaces_an_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(nothing_appears_before_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(abandoning_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(a_killed_writer_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_folder_is_named, setup, teardown),
        cmocka_unit_test(without_home_the_password_database_says),
        WITHOUT_TMPFILE(commit_makes_exactly_the_file),
        WITHOUT_TMPFILE(commit_replaces_an_existing_file),
        WITHOUT_TMPFILE(abandoning_leaves_nothing),
        WITHOUT_TMPFILE(fallback_commits_and_abandons),
        WITHOUT_TMPFILE(fallback_leftover_of_a_killed_writer_is_swept),
        cmocka_unit_test_setup_teardown(without_proc_the_fallback_is_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_takes_only_unheld_temporaries_of_the_path, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
