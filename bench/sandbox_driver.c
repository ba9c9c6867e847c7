/* bench helper: creates a sandbox over ROOTFS, runs /bin/true in it, destroys it.
 *   sandbox_driver ROOTFS         one sandbox (what hyperfine times against bwrap)
 *   sandbox_driver ROOTFS loop N  N sandboxes in one process; prints the mean in ms
 *                                 (the seccomp filter is compiled once, as in a runner) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "sandbox/sandbox.h"

static int once(const char *rootfs)
{
    struct lbox_sandbox_config cfg = {.rootfs = rootfs, .tmp_size_mb = 512,
                                      .arch = lbox_sandbox_host_arch()};
    struct lbox_sandbox *sb;
    struct lbox_error err;
    const char *argv[] = {"/bin/true", NULL}, *envp[] = {"PATH=/bin", NULL};
    pid_t pid;
    int st;
    if (lbox_sandbox_create(&cfg, &sb, NULL, &err) < 0 ||
        lbox_sandbox_exec(sb, argv, envp, "/", 1, 2, &pid, &err) < 0) {
        fprintf(stderr, "sandbox_driver: %s\n", err.msg);
        return 1;
    }
    while (lbox_sandbox_poll_exit(sb, &st, &err) == 0) {
        struct timespec t = {0, 100000};
        nanosleep(&t, NULL);
    }
    lbox_sandbox_destroy(sb);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2)
        return once(argv[1]);
    if (argc == 4 && !strcmp(argv[2], "loop")) {
        int n = atoi(argv[3]);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < n; i++)
            if (once(argv[1]))
                return 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.3f\n", ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / n);
        return 0;
    }
    fprintf(stderr, "usage: sandbox_driver ROOTFS [loop N]\n");
    return 2;
}
