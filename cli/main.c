/* lbox: build AWS Lambda Node.js execution environments and run them locally. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Weak: a subcommand whose file is not linked yet is simply not listed. */
#pragma weak cmd_images
#pragma weak cmd_rm
#pragma weak cmd_inspect
#pragma weak cmd_invoke
#pragma weak cmd_matrix
#pragma weak cmd_binfmt

static const struct command commands[] = {
    {"build", cmd_build, "build a function image for a runtime and architecture"},
    {"images", cmd_images, "list the images in the local store"},
    {"inspect", cmd_inspect, "show an image's config and layers"},
    {"rm", cmd_rm, "remove images from the local store"},
    {"invoke", cmd_invoke, "run events through an image, as Lambda does"},
    {"matrix", cmd_matrix, "run one event in every runtime and architecture, compare"},
    {"binfmt", cmd_binfmt, "show or install the host's QEMU registration (old kernels)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: lbox <command> [options]\n"
                 "       lbox --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].run)
            fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n"
                 "  -h, --help this text\n"
                 "  --version  print lbox's version\n");
    fprintf(out, "\n'lbox <command> --help' describes a command's options and exit codes.\n");
}

/* A caller may start lbox with stdin, stdout or stderr closed: the first file lbox opens
 * (the store's lock) would then take that number, and responses or logs would be written
 * into it. Each closed one becomes /dev/null opened the wrong way round, so that using it
 * fails with EBADF, as it would have: stdout's failure is then reported. */
static int hold_standard_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int got = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY) | O_NOCTTY);
        if (got != fd) /* the lowest free number: fd itself */
            return -1;
    }
    return 0;
}

/* What a command printed must have reached stdout: `lbox images --json > out.json` on a
 * full disk is a failure, not an empty file and exit 0. */
static int stdout_written(const char *name, int rc)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    fprintf(stderr, "%s: cannot write to stdout: %s\n", name,
            ferror(stdout) && errno == 0 ? "a write failed" : strerror(errno));
    return rc ? rc : 1;
}

int main(int argc, char **argv)
{
    if (hold_standard_fds() < 0)
        return 1;
    /* libarchive converts file names through the locale; file names in packages and zips are
     * UTF-8 (pax headers require it), whatever the caller's locale says. */
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lbox 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].run && !strcmp(argv[1], commands[i].name)) {
            /* getopt names the command in its messages ("lbox invoke: unrecognized ..."). */
            char name[32];
            snprintf(name, sizeof name, "lbox %s", commands[i].name);
            argv[1] = name;
            int rc = commands[i].run(argc - 1, argv + 1);
            return stdout_written(name, rc);
        }
    fprintf(stderr, "lbox: '%s' is not an lbox command\n\n", argv[1]);
    usage(stderr);
    return 2;
}
