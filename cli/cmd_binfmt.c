/* lbox binfmt: the host's QEMU registrations, needed only on kernels older than 6.7 (newer
 * ones give every sandbox its own binfmt_misc, see sandbox/binfmt.c). */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "builder/recipe.h"
#include "commands.h"
#include "output.h"
#include "sandbox/sandbox.h"

#define BINFMT_DIR "/proc/sys/fs/binfmt_misc"

static const char usage_text[] =
    "usage: lbox binfmt status\n"
    "       lbox binfmt install [--arch A] [--qemu PATH]\n"
    "\n"
    "Foreign-architecture images run through QEMU user emulation. On Linux 6.7 and later\n"
    "each sandbox registers QEMU in its own binfmt_misc: nothing on the host changes and no\n"
    "root is needed. Older kernels have one table for the whole machine, where QEMU must be\n"
    "registered with flag F (the interpreter opened once, usable inside any root).\n"
    "\n"
    "  status             what this kernel offers and the host's QEMU entries\n"
    "  install            as root: register qemu-<arch>-static with flag F on the host\n"
    "                     (replaces an entry of the same name that lacks F)\n"
    "    --arch A         arm64 or x86_64 (default: the one this machine is not)\n"
    "    --qemu PATH      interpreter (default: Debian's qemu-user-static path)\n"
    "\n"
    "Exit status: 0 done, 1 failed (not root, no QEMU, no binfmt_misc), 2 usage error.\n";

static bool private_binfmt(unsigned *major, unsigned *minor)
{
    struct utsname u;
    *major = *minor = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%u.%u", major, minor) != 2)
        return false;
    return *major > 6 || (*major == 6 && *minor >= 7);
}

static const char *foreign_arch(void)
{
    return !strcmp(lbox_sandbox_host_arch(), "arm64") ? "x86_64" : "arm64";
}

/* One host entry: "name  enabled  flags  interpreter". */
static bool print_entry(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, BINFMT_DIR "/%s", name);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[1024], interp[512] = "?", flags[32] = "", state[16] = "?";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(line, "enabled") || !strcmp(line, "disabled"))
            strcpy(state, line);
        else if (!strncmp(line, "interpreter ", 12))
            snprintf(interp, sizeof interp, "%.511s", line + 12);
        else if (!strncmp(line, "flags: ", 7))
            snprintf(flags, sizeof flags, "%.31s", line + 7);
    }
    fclose(f);
    if (!strstr(interp, "qemu") && !strstr(name, "qemu"))
        return false;
    printf("  %-20s %-8s flags %-6s %s\n", name, state, flags[0] ? flags : "-", interp);
    return true;
}

static int status(void)
{
    unsigned major, minor;
    bool priv = private_binfmt(&major, &minor);
    const char *arch = foreign_arch();
    const char *qemu = lbox_binfmt_default_qemu(arch);
    printf("host: %s, Linux %u.%u\n", lbox_sandbox_host_arch(), major, minor);
    printf("%s images: QEMU %s%s\n", arch, qemu ? qemu : "(none)",
           qemu && access(qemu, X_OK) == 0 ? "" : " (missing: apt-get install qemu-user-static)");
    if (priv)
        printf("registration: private to each sandbox (Linux >= 6.7); the host needs none\n");
    else
        printf("registration: this kernel is older than 6.7, so the host's entry is used; it "
               "needs flag F (as root: lbox binfmt install)\n");
    printf("host entries (%s):\n", BINFMT_DIR);
    /* The folder exists whether or not binfmt_misc is mounted on it; its register file
     * only when it is. */
    DIR *d = access(BINFMT_DIR "/register", F_OK) == 0 ? opendir(BINFMT_DIR) : NULL;
    if (!d) {
        printf("  (binfmt_misc is not mounted)\n");
        return 0;
    }
    size_t shown = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strcmp(de->d_name, "register") &&
            strcmp(de->d_name, "status") && print_entry(de->d_name))
            shown++;
    closedir(d);
    if (!shown)
        printf("  (no QEMU entry)\n");
    return 0;
}

static int install(int argc, char **argv)
{
    static const struct option opts[] = {
        {"arch", required_argument, NULL, 'a'},
        {"qemu", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *arch = NULL, *qemu = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': arch = optarg; break;
        case 'q': qemu = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lbox binfmt install: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (arch && !lbox_arch_canonical(arch)) {
        fprintf(stderr, "lbox binfmt install: unknown architecture '%s': use arm64 or x86_64\n",
                arch);
        return 2;
    }
    arch = arch ? lbox_arch_canonical(arch) : foreign_arch();
    unsigned major, minor;
    if (private_binfmt(&major, &minor))
        fprintf(stderr, "lbox binfmt: note: Linux %u.%u gives each sandbox its own "
                        "registration; the host entry is only a fallback\n", major, minor);
    struct lbox_error err = {0};
    if (lbox_binfmt_install_host(arch, qemu, &err) < 0) {
        lbox_print_error("binfmt install", &err);
        return 1;
    }
    printf("QEMU registered for %s images with flag F\n", arch);
    return 0;
}

int cmd_binfmt(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "status")) {
        if (argc > 2) {
            fprintf(stderr, "lbox binfmt status takes no arguments\n");
            return 2;
        }
        return status();
    }
    if (!strcmp(argv[1], "install"))
        return install(argc - 1, argv + 1);
    fprintf(stderr, "lbox binfmt: unknown subcommand '%s'\n\n%s", argv[1], usage_text);
    return 2;
}
