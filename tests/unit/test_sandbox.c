/* The sandbox library against a busybox image root (tests/fixtures/sandbox/mkrootfs.sh):
 * identity, capabilities, seccomp, read-only root, /tmp, network, process limit, kill and
 * reset, listening socket, the runner's sockets to listeners inside, runner death, memory,
 * QEMU. Run as root, every test runs twice
 * (but the stale-cgroup one, see main): as root and again in a child that dropped to
 * nobody (the rootless path). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "skip_unless.h"

#include "sandbox/sandbox.h"

static char rootfs[64], rootfs_arm[80];
static bool have_arm;
static const char *const test_env[] = {"PATH=/bin", "HOME=/tmp", "LBOX_T=1", NULL};

static struct lbox_sandbox_config base_config(void)
{
    return (struct lbox_sandbox_config){.rootfs = rootfs, .tmp_size_mb = 4, .memory_mb = 0,
                                        .arch = lbox_sandbox_host_arch(),
                                        .hostname = "lbox-test"};
}

static struct lbox_sandbox *make(const struct lbox_sandbox_config *cfg, int *listen_fd)
{
    struct lbox_sandbox *sb = NULL;
    struct lbox_error err = {0};
    if (lbox_sandbox_create(cfg, &sb, listen_fd, &err) < 0)
        fail_msg("lbox_sandbox_create: %s", err.msg);
    return sb;
}

/* Waits (poll on the exit fd) for the exec'd process; returns its wait status. */
static int wait_exit(struct lbox_sandbox *sb)
{
    struct lbox_error err = {0};
    int st;
    for (;;) {
        int r = lbox_sandbox_poll_exit(sb, &st, &err);
        if (r < 0)
            fail_msg("poll_exit: %s", err.msg);
        if (r == 1)
            return st;
        struct pollfd p = {lbox_sandbox_exit_fd(sb), POLLIN, 0};
        poll(&p, 1, 10000);
    }
}

/* Runs argv inside; stdout+stderr captured into out. Returns the wait status. */
static int run_argv(struct lbox_sandbox *sb, const char *const *argv, char *out, size_t len)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct lbox_error err = {0};
    pid_t pid = 0;
    if (lbox_sandbox_exec(sb, argv, test_env, "/", p[1], p[1], &pid, &err) < 0)
        fail_msg("exec %s: %s", argv[0], err.msg);
    close(p[1]);
    assert_true(pid > 0);
    size_t n = 0;
    ssize_t r;
    while ((r = read(p[0], out + n, len - 1 - n)) > 0 && n + (size_t)r < len - 1)
        n += (size_t)r;
    if (r > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    return wait_exit(sb);
}

static int run_sh(struct lbox_sandbox *sb, const char *script, char *out, size_t len)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    return run_argv(sb, argv, out, len);
}

#define assert_contains(hay, needle)                                                        \
    do {                                                                                    \
        if (!strstr((hay), (needle)))                                                       \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                          \
    } while (0)

static void test_identity_and_privileges(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[8192];
    int st = run_sh(sb, "id; hostname; grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status;"
                        " tr '\\0' ' ' < /proc/1/cmdline; echo; ls -ld /tmp",
                    out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_contains(out, "uid=993(sbx_user1051) gid=990(sbx_user1051)");
    assert_contains(out, "lbox-test\n");
    assert_contains(out, "CapInh:\t0000000000000000");
    assert_contains(out, "CapPrm:\t0000000000000000");
    assert_contains(out, "CapEff:\t0000000000000000");
    assert_contains(out, "CapBnd:\t0000000000000000");
    assert_contains(out, "CapAmb:\t0000000000000000");
    assert_contains(out, "NoNewPrivs:\t1");
    assert_contains(out, "Seccomp:\t2");
    /* pid 1 does not show the runner's command line */
    assert_contains(out, "lbox-init");
    assert_null(strstr(out, "test_sandbox"));
    assert_contains(out, "drwxrwxrwt");
    lbox_sandbox_destroy(sb);
}

/* The host uid pid 1 (and so every process inside) runs as. */
static unsigned host_uid_of(struct lbox_sandbox *sb)
{
    char path[64], status[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)lbox_sandbox_init_pid(sb));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(status, 1, sizeof status - 1, f);
    fclose(f);
    status[n] = 0;
    const char *uid = strstr(status, "\nUid:\t");
    assert_non_null(uid);
    return (unsigned)strtoul(uid + 6, NULL, 10);
}

/* As root, each sandbox is a host user of its own (not the nobody every sandbox and the
 * host's nobody services shared), so the kernel's per-user budgets are its own; a normal
 * user's sandboxes are that user. */
static void test_host_ids_of_its_own(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *a = make(&cfg, NULL), *b = make(&cfg, NULL);
    unsigned ua = host_uid_of(a), ub = host_uid_of(b);
    if (geteuid() == 0) {
        assert_int_not_equal(ua, ub);
        assert_true(ua >= 0x7E000000u && ua < 0x7E000000u + 4096);
        assert_true(ub >= 0x7E000000u && ub < 0x7E000000u + 4096);
    } else {
        assert_int_equal(ua, geteuid());
        assert_int_equal(ub, geteuid());
    }
    lbox_sandbox_destroy(a);
    lbox_sandbox_destroy(b);
}

static void test_clean_environment_and_exit_status(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[4096];
    const char *env_argv[] = {"env", NULL};
    assert_int_equal(run_argv(sb, env_argv, out, sizeof out), 0);
    assert_string_equal(out, "PATH=/bin\nHOME=/tmp\nLBOX_T=1\n");
    int st = run_sh(sb, "exit 3", out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    /* a missing program is an error of exec itself, with the reason */
    const char *missing[] = {"/bin/no-such-program", NULL};
    struct lbox_error err = {0};
    pid_t pid;
    assert_int_equal(lbox_sandbox_exec(sb, missing, test_env, "/", 1, 2, &pid, &err), -1);
    assert_contains(err.msg, "No such file or directory");
    /* the host pid is real: its NSpid ends with the pid seen inside */
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *sleeper[] = {"/bin/sh", "-c", "echo $$; exec sleep 30", NULL};
    assert_int_equal(lbox_sandbox_exec(sb, sleeper, test_env, "/tmp", p[1], p[1], &pid, &err), 0);
    close(p[1]);
    char inside[32] = "", path[64], status[4096];
    assert_true(read(p[0], inside, sizeof inside - 1) > 0);
    close(p[0]);
    inside[strcspn(inside, "\n")] = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(status, 1, sizeof status - 1, f);
    status[n] = 0;
    fclose(f);
    char *nspid = strstr(status, "NSpid:");
    assert_non_null(nspid);
    nspid[strcspn(nspid, "\n")] = 0;
    char *last = strrchr(nspid, '\t');
    assert_non_null(last);
    assert_string_equal(last + 1, inside);
    assert_int_equal(lbox_sandbox_kill_procs(sb, &err), 0);
    lbox_sandbox_destroy(sb);
}

/* Waits up to 5 s for pid 1's report of how `pid` ended; returns its wait status. */
static int wait_exit_of(struct lbox_sandbox *sb, pid_t pid)
{
    int st = -1;
    for (int i = 0; i < 500; i++) {
        int r = lbox_sandbox_exit_status(sb, pid, &st);
        assert_int_not_equal(r, -1);
        if (r == 1)
            return st;
        struct pollfd p = {lbox_sandbox_exit_fd(sb), POLLIN, 0};
        poll(&p, 1, 10);
    }
    fail_msg("no exit report for pid %d", (int)pid);
    return st;
}

/* Every started process's end is known, not only the last one's (extensions run beside the
 * runtime, and Lambda's error names how an extension ended); a kill forgets them. */
static void test_exit_status_of_every_process(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    struct lbox_error err = {0};
    const char *first[] = {"/bin/sh", "-c", "sleep 0.2; exit 7", NULL};
    const char *second[] = {"/bin/sleep", "30", NULL};
    const char *third[] = {"/bin/sleep", "30", NULL};
    pid_t a = 0, b = 0, c = 0;
    assert_int_equal(lbox_sandbox_exec(sb, first, test_env, "/", 2, 2, &a, &err), 0);
    assert_int_equal(lbox_sandbox_exec(sb, second, test_env, "/", 2, 2, &b, &err), 0);
    assert_int_equal(lbox_sandbox_exec(sb, third, test_env, "/", 2, 2, &c, &err), 0);
    int st = wait_exit_of(sb, a);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    assert_int_equal(lbox_sandbox_exit_status(sb, b, &st), 0);
    assert_int_equal(lbox_sandbox_poll_exit(sb, &st, &err), 0); /* the last one runs */
    assert_int_equal(kill(b, SIGKILL), 0);
    st = wait_exit_of(sb, b);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(lbox_sandbox_poll_exit(sb, &st, &err), 0);
    assert_int_equal(lbox_sandbox_exit_status(sb, getpid(), &st), -1);
    /* A kill forgets them, but for the last one started, whose end poll_exit tells. */
    assert_int_equal(lbox_sandbox_kill_procs(sb, &err), 0);
    assert_int_equal(lbox_sandbox_exit_status(sb, a, &st), -1);
    assert_int_equal(lbox_sandbox_exit_status(sb, b, &st), -1);
    st = wait_exit_of(sb, c);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* Why an execve failed: a file that is not executable, a missing one. */
    const char *not_exec[] = {"/etc/passwd", NULL}, *missing[] = {"/bin/no-such", NULL};
    assert_int_equal(lbox_sandbox_exec(sb, not_exec, test_env, "/", 2, 2, &a, &err), -1);
    assert_int_equal(lbox_sandbox_last_exec_errno(sb), EACCES);
    assert_int_equal(lbox_sandbox_exec(sb, missing, test_env, "/", 2, 2, &a, &err), -1);
    assert_int_equal(lbox_sandbox_last_exec_errno(sb), ENOENT);
    assert_int_equal(lbox_sandbox_exec(sb, second, test_env, "/", 2, 2, &b, &err), 0);
    assert_int_equal(lbox_sandbox_last_exec_errno(sb), 0);
    assert_int_equal(lbox_sandbox_kill_procs(sb, &err), 0);
    lbox_sandbox_destroy(sb);
}

/* A signal to a started process goes, through pid 1, to its whole process group (the
 * runtime's SIGTERM must reach what it forked), and to nothing once the process has ended:
 * its pid may already belong to another process. */
static void test_signal_through_pid1(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    struct lbox_error err = {0};
    /* The shell ignores SIGTERM and its child does not: exit 9 once the child is killed. */
    const char *group[] = {"/bin/sh", "-c", "trap '' TERM; (trap - TERM; exec sleep 30); exit 9",
                           NULL};
    pid_t a = 0;
    assert_int_equal(lbox_sandbox_exec(sb, group, test_env, "/", 2, 2, &a, &err), 0);
    usleep(200000); /* the subshell's trap reset and exec */
    assert_int_equal(lbox_sandbox_signal(sb, a, SIGTERM, &err), 0);
    int st = wait_exit_of(sb, a);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 9);
    /* ended and reaped: nothing is sent */
    assert_int_equal(lbox_sandbox_signal(sb, a, SIGKILL, &err), 1);
    assert_int_equal(lbox_sandbox_signal(sb, getpid(), SIGKILL, &err), 1);
    /* a process that ended but whose report the runner has not taken in yet: pid 1 knows */
    const char *quick[] = {"/bin/sh", "-c", "exit 4", NULL};
    assert_int_equal(lbox_sandbox_exec(sb, quick, test_env, "/", 2, 2, &a, &err), 0);
    usleep(200000);
    assert_int_equal(lbox_sandbox_signal(sb, a, SIGKILL, &err), 1);
    st = wait_exit_of(sb, a);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 4);
    lbox_sandbox_destroy(sb);
}

/* pid 1 reports an end, then may die (a hostile function can kill it with everything): what
 * was reported stays known, and what was not is an error, not a hang. */
static void test_exit_known_after_pid1_dies(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    struct lbox_error err = {0};
    const char *quick[] = {"/bin/sh", "-c", "exit 5", NULL};
    const char *slow[] = {"/bin/sleep", "30", NULL};
    pid_t a = 0, b = 0;
    assert_int_equal(lbox_sandbox_exec(sb, slow, test_env, "/", 2, 2, &b, &err), 0);
    assert_int_equal(lbox_sandbox_exec(sb, quick, test_env, "/", 2, 2, &a, &err), 0);
    /* Let pid 1 report it without taking the report in, then kill pid 1. */
    for (int i = 0; i < 500; i++) {
        struct pollfd p = {lbox_sandbox_exit_fd(sb), POLLIN, 0};
        if (poll(&p, 1, 10) == 1)
            break;
    }
    assert_int_equal(kill(lbox_sandbox_init_pid(sb), SIGKILL), 0);
    usleep(100000);
    int st = -1;
    assert_int_equal(lbox_sandbox_poll_exit(sb, &st, &err), 1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 5);
    assert_int_equal(lbox_sandbox_exit_status(sb, a, &st), 1);
    assert_int_equal(lbox_sandbox_exit_status(sb, b, &st), -1);
    lbox_sandbox_destroy(sb);
}

static void test_readonly_root_and_tmp(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[8192];
    run_sh(sb,
           "touch /x; touch /var/task/x; echo x >> /etc/passwd; mkdir /opt/d;"
           "echo hello > /tmp/a && cat /tmp/a;"
           "dd if=/dev/zero of=/tmp/big bs=1M count=8 2>&1; echo dd=$?",
           out, sizeof out);
    assert_contains(out, "touch: /x: Read-only file system");
    assert_contains(out, "touch: /var/task/x: Read-only file system");
    assert_contains(out, "can't create /etc/passwd"); /* EACCES or EROFS, never written */
    assert_contains(out, "mkdir: can't create directory '/opt/d': Read-only file system");
    assert_contains(out, "hello\n");
    assert_contains(out, "No space left on device");
    assert_contains(out, "dd=1");
    lbox_sandbox_destroy(sb);
}

struct expect_errno {
    const char *name;
    int err;
};

/* The parts of /proc that could change the host are read-only (as Docker makes them), and
 * the ones that leak kernel details are empty. */
static void test_proc_covers(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[4096];
    /* Some kernels have no /proc/sysrq-trigger or /proc/kcore (this host's has neither). */
    int st = run_sh(sb, "for p in /proc/sys /proc/sysrq-trigger /proc/fs; do"
                        "  [ -e $p ] || { echo $p absent; continue; };"
                        "  awk -v p=$p '$5 == p { split($6, o, \",\"); print p, o[1] }' /proc/self/mountinfo;"
                        " done; for p in /proc/kcore /proc/keys; do"
                        "  [ -e $p ] && echo $p $(wc -c < $p) || echo $p absent; done",
                    out, sizeof out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_contains(out, "/proc/sys ro\n");
    assert_contains(out, "/proc/fs ro\n");
    assert_true(strstr(out, "/proc/sysrq-trigger ro\n") || strstr(out, "/proc/sysrq-trigger absent\n"));
    assert_true(strstr(out, "/proc/kcore 0\n") || strstr(out, "/proc/kcore absent\n"));
    assert_contains(out, "/proc/keys 0\n");
    lbox_sandbox_destroy(sb);
}

static void test_seccomp_refusals(void **state)
{
    (void)state;
    static const struct expect_errno expected[] = {
        {"mount", EPERM}, {"umount2", EPERM}, {"pivot_root", EPERM}, {"chroot", EPERM},
        {"unshare", EPERM}, {"setns", EPERM}, {"clone_newuser", EPERM}, {"clone3", ENOSYS},
        {"ptrace", EPERM}, {"process_vm_readv", EPERM}, {"keyctl", EPERM}, {"add_key", EPERM},
        {"request_key", EPERM}, {"bpf", EPERM}, {"perf_event_open", EPERM},
        {"kexec_load", EPERM}, {"kexec_file_load", EPERM}, {"init_module", EPERM},
        {"finit_module", EPERM}, {"delete_module", EPERM}, {"reboot", EPERM},
        {"swapon", EPERM}, {"acct", EPERM}, {"userfaultfd", EPERM},
        {"open_by_handle_at", EPERM}, {"io_uring_setup", EPERM},
        {"personality_change", EPERM}, {"personality_query", 0}, {"socket_alg", EPERM},
        {"socket_vsock", EPERM}, {"sethostname", EPERM}, {"fsopen", EPERM},
        {"mknod_char", EPERM},
    };
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[8192], line[64];
    const char *argv[] = {"/bin/probe", "syscalls", NULL};
    assert_int_equal(run_argv(sb, argv, out, sizeof out), 0);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        snprintf(line, sizeof line, "%s %d\n", expected[i].name, expected[i].err);
        assert_contains(out, line);
    }
    assert_true(lbox_sandbox_seccomp_allowed() > 250);
    lbox_sandbox_destroy(sb);
}

static void test_network_is_loopback_only(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[4096];
    run_sh(sb, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", out, sizeof out);
    assert_string_equal(out, "lo\n");
    lbox_sandbox_destroy(sb);
}

static void test_forkbomb_stops_and_kill_resets(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[4096];
    const char *argv[] = {"/bin/probe", "forkbomb", NULL};
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct lbox_error err = {0};
    pid_t pid;
    assert_int_equal(lbox_sandbox_exec(sb, argv, test_env, "/", p[1], p[1], &pid, &err), 0);
    close(p[1]);
    /* read the one line (the sleeping children keep the pipe open) */
    ssize_t n = 0, r;
    while ((r = read(p[0], out + n, sizeof out - 1 - (size_t)n)) > 0) {
        n += r;
        out[n] = 0;
        if (strchr(out, '\n'))
            break;
    }
    int forked = -1, e = -1;
    assert_int_equal(sscanf(out, "forked %d errno %d", &forked, &e), 2);
    assert_int_equal(e, EAGAIN);
    assert_in_range(forked, 900, 1023);
    assert_int_equal(lbox_sandbox_kill_procs(sb, &err), 0);
    close(p[0]);
    /* all gone: ps sees only pid 1 and itself (plus its header line) */
    const char *ps[] = {"ps", NULL};
    assert_int_equal(run_argv(sb, ps, out, sizeof out), 0);
    int lines = 0;
    for (char *c = out; *c; c++)
        lines += *c == '\n';
    if (lines != 3)
        fail_msg("processes left after kill_procs:\n%s", out);
    lbox_sandbox_destroy(sb);
}

static void test_kill_procs_keeps_tmp(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    struct lbox_error err = {0};
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    const char *argv[] = {"/bin/sh", "-c", "echo kept > /tmp/k; exec sleep 100", NULL};
    pid_t pid;
    assert_int_equal(lbox_sandbox_exec(sb, argv, test_env, "/", null, null, &pid, &err), 0);
    close(null);
    char out[256];
    int st = 0;
    /* wait until the file holds its line (the shell creates it before writing), then kill
     * everything */
    for (int i = 0; i < 200; i++) {
        char path[64];
        struct stat sb;
        snprintf(path, sizeof path, "/proc/%d/root/tmp/k", (int)pid);
        if (stat(path, &sb) == 0 && sb.st_size == 5)
            break;
        usleep(10000);
    }
    assert_int_equal(lbox_sandbox_kill_procs(sb, &err), 0);
    st = wait_exit(sb);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(run_sh(sb, "cat /tmp/k", out, sizeof out), 0);
    assert_string_equal(out, "kept\n");
    lbox_sandbox_destroy(sb);
}

static void test_listen_socket_reaches_runner(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    cfg.listen_port = 9001;
    int lfd = -1;
    struct lbox_sandbox *sb = make(&cfg, &lfd);
    assert_true(lfd >= 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    const char *argv[] = {"wget", "-q", "-O", "-", "http://127.0.0.1:9001/ping", NULL};
    struct lbox_error err = {0};
    pid_t pid;
    assert_int_equal(lbox_sandbox_exec(sb, argv, test_env, "/", p[1], p[1], &pid, &err), 0);
    close(p[1]);
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    char req[1024] = "";
    assert_true(read(c, req, sizeof req - 1) > 0);
    assert_contains(req, "GET /ping HTTP/1.");
    const char *resp = "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\npong";
    assert_int_equal(write(c, resp, strlen(resp)), (ssize_t)strlen(resp));
    close(c);
    char out[256] = "";
    ssize_t n = read(p[0], out, sizeof out - 1);
    assert_true(n > 0);
    out[n] = 0;
    close(p[0]);
    assert_string_equal(out, "pong");
    assert_int_equal(wait_exit(sb), 0);
    /* the socket lives in the sandbox's network namespace: the host cannot reach it */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9001),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    int host_listening = rc == 0;
    close(s);
    if (host_listening) { /* only an unrelated host service could answer: not ours */
        struct pollfd pf = {lfd, POLLIN, 0};
        assert_int_equal(poll(&pf, 1, 100), 0);
    }
    close(lfd);
    lbox_sandbox_destroy(sb);
}

static void test_runner_death_kills_sandbox(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t runner = fork();
    assert_true(runner >= 0);
    if (runner == 0) {
        struct lbox_sandbox_config cfg = base_config();
        struct lbox_sandbox *sb;
        struct lbox_error err;
        int null = open("/dev/null", O_WRONLY);
        const char *argv[] = {"sleep", "1000", NULL};
        pid_t pid = 0;
        if (lbox_sandbox_create(&cfg, &sb, NULL, &err) < 0 ||
            lbox_sandbox_exec(sb, argv, test_env, "/", null, null, &pid, &err) < 0)
            pid = 0;
        if (write(p[1], &pid, sizeof pid) < 0) {}
        _exit(0); /* dies without destroying the sandbox */
    }
    close(p[1]);
    pid_t sleeper = 0;
    assert_int_equal(read(p[0], &sleeper, sizeof sleeper), (ssize_t)sizeof sleeper);
    close(p[0]);
    assert_true(sleeper > 0);
    waitpid(runner, NULL, 0);
    bool gone = false;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = kill(sleeper, 0) < 0 && errno == ESRCH;
        if (!gone)
            usleep(10000);
    }
    assert_true(gone);
}

static void test_memory_peak_and_limit(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[256];
    const char *eat40[] = {"/bin/probe", "eat", "40", "0", NULL};
    assert_int_equal(run_argv(sb, eat40, out, sizeof out), 0);
    assert_contains(out, "ate 40");
    uint64_t peak = lbox_sandbox_memory_peak(sb);
    assert_true(peak >= 40ull << 20);
    assert_true(peak < 400ull << 20);
    assert_true(strlen(lbox_sandbox_memory_mode(sb)) > 0);
    lbox_sandbox_destroy(sb);

    cfg.memory_mb = 64;
    sb = make(&cfg, NULL);
    /* The cgroup namespace is made after the move into the sandbox's cgroup, so that cgroup
     * is the root of every view; its host name (lbox-<pid>-<n>) never shows. */
    char view[1024];
    assert_int_equal(run_sh(sb, "cat /proc/self/cgroup /proc/1/cgroup", view, sizeof view), 0);
    assert_contains(view, ":/\n");
    assert_null(strstr(view, "lbox-"));
    const char *eat300[] = {"/bin/probe", "eat", "300", NULL};
    int st = run_argv(sb, eat300, out, sizeof out);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_null(strstr(out, "ate 300"));
    lbox_sandbox_destroy(sb);
}

static atomic_bool churn_stop;
static void *noop_thread(void *arg) { return arg; }
static void *churn_threads(void *arg)
{
    while (!atomic_load(&churn_stop)) {
        pthread_t t;
        if (pthread_create(&t, NULL, noop_thread, NULL) == 0)
            pthread_join(t, NULL);
    }
    return arg;
}

/* The runner may have other threads starting and ending (a server thread, a compile in the
 * background) when it clones a sandbox. The clone has none of them, so nothing in it may
 * wait for them: glibc's setgroups() did, when one was caught mid-exit, and hung. */
static void test_create_while_threads_come_and_go(void **state)
{
    (void)state;
    atomic_store(&churn_stop, false);
    pthread_t churn;
    assert_int_equal(pthread_create(&churn, NULL, churn_threads, NULL), 0);
    alarm(120); /* a hang fails the test instead of stalling the suite */
    struct lbox_sandbox_config cfg = base_config();
    for (int i = 0; i < 40; i++)
        lbox_sandbox_destroy(make(&cfg, NULL));
    alarm(0);
    atomic_store(&churn_stop, true);
    pthread_join(churn, NULL);
}

/* A runner killed before its clean-up leaves its cgroup behind; the next runner removes
 * those whose runner is gone, once they are a minute old. */
static void test_stale_cgroups_are_swept(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    cfg.memory_mb = 64;
    struct lbox_sandbox *sb = make(&cfg, NULL);
    const char *mode = lbox_sandbox_memory_mode(sb);
    char parent[PATH_MAX] = "";
    const char *open_paren = strchr(mode, '('), *slash = strstr(mode, "/lbox-");
    if (!strncmp(mode, "cgroup v", 8) && open_paren && slash && slash > open_paren)
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - open_paren - 1), open_paren + 1);
    lbox_sandbox_destroy(sb);
    SKIP_UNLESS(parent[0], "no usable cgroup for this user: nothing is created, nothing to sweep");

    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    /* A runner's own leaf (cgroup v2, a delegated scope) is swept like a sandbox's cgroup;
     * a name lbox does not give is not. */
    char old_dir[PATH_MAX + 64], young_dir[PATH_MAX + 64], leaf_dir[PATH_MAX + 64],
        other_dir[PATH_MAX + 64];
    snprintf(old_dir, sizeof old_dir, "%s/lbox-%d-7", parent, (int)gone);
    snprintf(young_dir, sizeof young_dir, "%s/lbox-%d-8", parent, (int)gone);
    snprintf(leaf_dir, sizeof leaf_dir, "%s/lbox-%d-runner", parent, (int)gone);
    snprintf(other_dir, sizeof other_dir, "%s/lbox-%d-7x", parent, (int)gone);
    struct timespec two_minutes_ago[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    const char *old_dirs[] = {old_dir, leaf_dir, other_dir};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mkdir(old_dirs[i], 0755), 0);
        assert_int_equal(utimensat(AT_FDCWD, old_dirs[i], two_minutes_ago, 0), 0);
    }
    assert_int_equal(mkdir(young_dir, 0755), 0);

    sb = make(&cfg, NULL);
    lbox_sandbox_destroy(sb);
    struct stat st;
    bool old_left = stat(old_dir, &st) == 0, young_left = stat(young_dir, &st) == 0,
         leaf_left = stat(leaf_dir, &st) == 0, other_left = stat(other_dir, &st) == 0;
    rmdir(old_dir);
    rmdir(young_dir);
    rmdir(leaf_dir);
    rmdir(other_dir);
    assert_false(old_left);
    assert_false(leaf_left);
    assert_true(young_left);
    assert_true(other_left);
}

static void test_qemu_foreign_arch(void **state)
{
    (void)state;
    SKIP_UNLESS(have_arm, "no foreign-arch busybox (apt-get download failed?) or no QEMU");
    struct lbox_sandbox_config cfg = base_config();
    cfg.rootfs = rootfs_arm;
    cfg.arch = "arm64";
    cfg.qemu_path = lbox_binfmt_default_qemu("arm64");
    assert_non_null(cfg.qemu_path);
    struct lbox_sandbox *sb = make(&cfg, NULL);
    char out[1024];
    int st = run_sh(sb, "uname -m; id -u; sh -c 'echo child'; /bin/busybox grep Seccomp: /proc/self/status",
                    out, sizeof out);
    if (st != 0)
        fail_msg("status %d, output:\n%s", st, out);
    assert_contains(out, "aarch64\n993\nchild\n");
    assert_contains(out, "Seccomp:\t2");
    lbox_sandbox_destroy(sb);
    /* the registration was private: the host's table (when mounted) has no lbox entry */
    assert_int_equal(access("/proc/sys/fs/binfmt_misc/lbox-qemu-aarch64", F_OK), -1);
}

/* ---- lbox_sandbox_tcp_socket: the runner's connections to listeners inside ---- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* The inode of the network namespace a socket belongs to (SIOCGSKNS), or of our own. */
static ino_t netns_of(int sock)
{
    int ns = sock >= 0 ? ioctl(sock, SIOCGSKNS) : open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (ns < 0 || fstat(ns, &st) < 0)
        fail_msg("network namespace of fd %d: %s", sock, strerror(errno));
    close(ns);
    return st.st_ino;
}

static struct sockaddr_in loopback(uint16_t port)
{
    return (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

/* Starts, inside, a one-connection listener on 127.0.0.1:port that sends "inside\n" and
 * prints what it receives on *out (a pipe). */
static pid_t start_listener_inside(struct lbox_sandbox *sb, uint16_t port, int *out)
{
    char script[128];
    snprintf(script, sizeof script, "echo inside | exec nc -l -p %u", (unsigned)port);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct lbox_error err = {0};
    pid_t pid = 0;
    if (lbox_sandbox_exec(sb, argv, test_env, "/", p[1], p[1], &pid, &err) < 0)
        fail_msg("exec nc: %s", err.msg);
    close(p[1]);
    *out = p[0];
    return pid;
}

/* A socket from lbox_sandbox_tcp_socket connected to 127.0.0.1:port, retried while the
 * listener inside is not up yet. */
static int connect_inside(struct lbox_sandbox *sb, uint16_t port)
{
    struct sockaddr_in a = loopback(port);
    for (int i = 0; i < 500; i++) {
        struct lbox_error err = {0};
        int s = lbox_sandbox_tcp_socket(sb, &err);
        if (s < 0)
            fail_msg("lbox_sandbox_tcp_socket: %s", err.msg);
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
            return s;
        int e = errno;
        close(s);
        if (e != ECONNREFUSED)
            fail_msg("connect to 127.0.0.1:%u: %s", (unsigned)port, strerror(e));
        usleep(10000);
    }
    fail_msg("nothing listens on 127.0.0.1:%u inside after 5 s", (unsigned)port);
    return -1;
}

/* Reads until EOF (at most len - 1 bytes), NUL-terminated. */
static void read_all(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t r;
    while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
}

/* Bytes both ways with the listener inside: "inside\n" from it, "from-runner\n" to it
 * (which it prints, then it ends). */
static void exchange_with_listener(struct lbox_sandbox *sb, int conn, int out)
{
    char buf[256];
    struct timeval tv = {10, 0}; /* a listener that never writes fails, not hangs, the test */
    assert_int_equal(setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    read_all(conn, buf, sizeof buf);
    assert_string_equal(buf, "inside\n");
    const char *msg = "from-runner\n";
    assert_int_equal(write(conn, msg, strlen(msg)), (ssize_t)strlen(msg));
    assert_int_equal(shutdown(conn, SHUT_WR), 0);
    read_all(out, buf, sizeof buf);
    assert_string_equal(buf, msg);
    assert_int_equal(wait_exit(sb), 0);
}

static void test_tcp_socket_reaches_listener_inside(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    int out;
    start_listener_inside(sb, 9002, &out);
    int s = connect_inside(sb, 9002);
    /* what the contract promises: IPv4 TCP, close-on-exec, blocking, the sandbox's netns */
    int domain = 0, type = 0;
    socklen_t l = sizeof domain;
    assert_int_equal(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &domain, &l), 0);
    l = sizeof type;
    assert_int_equal(getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l), 0);
    assert_int_equal(domain, AF_INET);
    assert_int_equal(type, SOCK_STREAM);
    assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(s, F_GETFL) & O_NONBLOCK);
    assert_int_not_equal(netns_of(s), netns_of(-1));
    exchange_with_listener(sb, s, out);
    close(s);
    close(out);
    /* the channel stays pid 1's: what it starts holds no socket (stdio: /dev/null, pipes) */
    char fds[1024];
    assert_int_equal(run_sh(sb, "ls -l /proc/self/fd", fds, sizeof fds), 0);
    assert_contains(fds, "pipe:");
    if (strstr(fds, "socket:"))
        fail_msg("a socket is open in a process pid 1 started:\n%s", fds);
    lbox_sandbox_destroy(sb);
}

/* The same port taken on the host's loopback: the socket still reaches the sandbox's
 * listener (a socket made in the runner's namespace would reach the host's). */
static void test_tcp_socket_not_host_loopback(void **state)
{
    (void)state;
    int host = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(host >= 0);
    struct sockaddr_in a = loopback(0);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(host, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(host, 8), 0);
    assert_int_equal(getsockname(host, (struct sockaddr *)&a, &alen), 0);
    uint16_t port = ntohs(a.sin_port);

    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    int out;
    start_listener_inside(sb, port, &out);
    int s = connect_inside(sb, port);
    exchange_with_listener(sb, s, out);
    close(s);
    close(out);
    struct pollfd pf = {host, POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 0), 0); /* the host's listener saw nothing */
    /* ...and it is there: a socket of the runner's own namespace reaches it */
    int mine = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(mine, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(poll(&pf, 1, 5000), 1);
    close(mine);
    close(host);
    lbox_sandbox_destroy(sb);
}

struct socket_hammer {
    struct lbox_sandbox *sb;
    ino_t netns;              /* the namespace every socket must belong to */
    atomic_int made, failed;
    struct lbox_error first;  /* written by the thread whose failure came first */
    atomic_flag error_taken;
};

static void *hammer_sockets(void *arg)
{
    struct socket_hammer *h = arg;
    for (int i = 0; i < 200; i++) {
        struct lbox_error err = {0};
        int s = lbox_sandbox_tcp_socket(h->sb, &err);
        int ns = s >= 0 ? ioctl(s, SIOCGSKNS) : -1;
        struct stat st = {0};
        bool ok = ns >= 0 && fstat(ns, &st) == 0 && st.st_ino == h->netns;
        if (ns >= 0)
            close(ns);
        if (s >= 0)
            close(s);
        atomic_fetch_add(ok ? &h->made : &h->failed, 1);
        if (!ok && !atomic_flag_test_and_set(&h->error_taken)) {
            if (s >= 0)
                snprintf(err.msg, sizeof err.msg, "a socket outside the sandbox's namespace");
            h->first = err;
        }
    }
    return NULL;
}

/* Two threads ask for sockets while the main thread uses the command channel: every call
 * succeeds, and nothing is left open. */
static void test_tcp_socket_from_threads(void **state)
{
    (void)state;
    struct lbox_sandbox_config cfg = base_config();
    int fds_before = count_fds();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    struct lbox_error err = {0};
    int first = lbox_sandbox_tcp_socket(sb, &err);
    assert_true(first >= 0);
    struct socket_hammer h = {.sb = sb, .netns = netns_of(first),
                              .error_taken = ATOMIC_FLAG_INIT};
    close(first);
    assert_int_not_equal(h.netns, netns_of(-1));
    alarm(120); /* a lost reply would hang: fail instead */
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_sockets, &h), 0);
    unsigned peeks = 0;
    while (atomic_load(&h.made) + atomic_load(&h.failed) < 400) {
        lbox_sandbox_memory_peak(sb);
        peeks++;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    alarm(0);
    if (atomic_load(&h.failed))
        fail_msg("%d of 400 failed, first: %s", atomic_load(&h.failed), h.first.msg);
    assert_int_equal(atomic_load(&h.made), 400);
    assert_true(peeks > 0);
    /* the command channel still answers in turn */
    char out[64];
    assert_int_equal(run_sh(sb, "echo ok", out, sizeof out), 0);
    assert_string_equal(out, "ok\n");
    lbox_sandbox_destroy(sb);
    assert_int_equal(count_fds(), fds_before);
}

/* pid 1 gone: an error, not a hang; destroy leaves no fd behind. With host_network the
 * socket reaches the host's loopback. */
static void test_tcp_socket_pid1_gone_and_host_network(void **state)
{
    (void)state;
    int fds_before = count_fds();
    struct lbox_sandbox_config cfg = base_config();
    struct lbox_sandbox *sb = make(&cfg, NULL);
    struct lbox_error err = {0};
    int s = lbox_sandbox_tcp_socket(sb, &err);
    assert_true(s >= 0);
    close(s);
    assert_int_equal(kill(lbox_sandbox_init_pid(sb), SIGKILL), 0);
    usleep(100000);
    for (int i = 0; i < 2; i++) { /* EOF, then a broken pipe */
        assert_int_equal(lbox_sandbox_tcp_socket(sb, &err), -1);
        assert_contains(err.msg, "killed?");
    }
    lbox_sandbox_destroy(sb);
    assert_int_equal(count_fds(), fds_before);

    int host = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(host, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(host, 8), 0);
    assert_int_equal(getsockname(host, (struct sockaddr *)&a, &alen), 0);
    cfg.host_network = true;
    sb = make(&cfg, NULL);
    s = lbox_sandbox_tcp_socket(sb, &err);
    if (s < 0)
        fail_msg("host_network: %s", err.msg);
    assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    int c = accept4(host, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c >= 0);
    close(c);
    close(s);
    close(host);
    lbox_sandbox_destroy(sb);
    assert_int_equal(count_fds(), fds_before);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_identity_and_privileges),
    cmocka_unit_test(test_host_ids_of_its_own),
    cmocka_unit_test(test_clean_environment_and_exit_status),
        cmocka_unit_test(test_exit_status_of_every_process),
        cmocka_unit_test(test_exit_known_after_pid1_dies),
        cmocka_unit_test(test_signal_through_pid1),
    cmocka_unit_test(test_readonly_root_and_tmp),
    cmocka_unit_test(test_proc_covers),
    cmocka_unit_test(test_seccomp_refusals),
    cmocka_unit_test(test_network_is_loopback_only),
    cmocka_unit_test(test_forkbomb_stops_and_kill_resets),
    cmocka_unit_test(test_kill_procs_keeps_tmp),
    cmocka_unit_test(test_listen_socket_reaches_runner),
    cmocka_unit_test(test_tcp_socket_reaches_listener_inside),
    cmocka_unit_test(test_tcp_socket_not_host_loopback),
    cmocka_unit_test(test_tcp_socket_from_threads),
    cmocka_unit_test(test_tcp_socket_pid1_gone_and_host_network),
    cmocka_unit_test(test_runner_death_kills_sandbox),
    cmocka_unit_test(test_memory_peak_and_limit),
    cmocka_unit_test(test_stale_cgroups_are_swept),
    cmocka_unit_test(test_create_while_threads_come_and_go),
    cmocka_unit_test(test_qemu_foreign_arch),
};

static int make_rootfs(char *dir, size_t len, const char *arch)
{
    snprintf(dir, len, "/tmp/lbox-sbtest-%s-XXXXXX", arch);
    if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tests/fixtures/sandbox/mkrootfs.sh %s %s >&2",
             LBOX_SOURCE_DIR, dir, arch);
    return system(cmd) == 0 ? 0 : -1;
}

static void remove_rootfs(const char *dir)
{
    char cmd[256];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) {}
    }
}

int main(void)
{
    if (make_rootfs(rootfs, sizeof rootfs, lbox_sandbox_host_arch()) < 0) {
        fprintf(stderr, "test_sandbox: could not build the busybox image root (needs "
                        "busybox-static and a C compiler with static libc)\n");
        return 1;
    }
    const char *foreign = strcmp(lbox_sandbox_host_arch(), "x86_64") ? "x86_64" : "arm64";
    have_arm = make_rootfs(rootfs_arm, sizeof rootfs_arm, foreign) == 0 &&
               access(lbox_binfmt_default_qemu(foreign) ? lbox_binfmt_default_qemu(foreign)
                                                        : "/", X_OK) == 0;
    if (!have_arm)
        fprintf(stderr, "test_sandbox: no %s busybox (apt-get download failed?): the QEMU "
                        "test is skipped\n", foreign);

    int failed = 0;
    if (geteuid() == 0) {
        failed += cmocka_run_group_tests_name("sandbox as root", tests, NULL, NULL);
        fflush(NULL);
        pid_t child = fork();
        if (child == 0) {
            /* The rootless path: a normal user (nobody), dumpable again after setuid. */
            if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                setresuid(65534, 65534, 65534) < 0)
                _exit(99);
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
            /* Less the stale-cgroup test: nobody, started from root's cgroup, has no cgroup
             * to use or sweep (v1 needs root; nothing on v2 is delegated to it). The sweep
             * code is the same for every user, and the root pass above runs it. */
            struct CMUnitTest as_nobody[sizeof tests / sizeof tests[0]];
            size_t n = 0;
            for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
                if (tests[i].test_func != test_stale_cgroups_are_swept)
                    as_nobody[n++] = tests[i];
            _exit(_cmocka_run_group_tests("sandbox as nobody", as_nobody, n, NULL, NULL));
        }
        int st = 0;
        waitpid(child, &st, 0);
        failed += WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    } else {
        failed += cmocka_run_group_tests_name("sandbox as a normal user", tests, NULL, NULL);
    }
    remove_rootfs(rootfs);
    remove_rootfs(rootfs_arm);
    return failed ? 1 : 0;
}
