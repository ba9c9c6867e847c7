/* Foreign-architecture images through QEMU user emulation and binfmt_misc.
 *
 * Linux >= 6.7 lets a user namespace mount its own binfmt_misc instance: the sandbox mounts
 * one on its own /proc/sys/fs/binfmt_misc and registers qemu-<arch>-static with flag F
 * (the kernel opens the interpreter at registration, so it need not exist inside the
 * image). Execs in the sandbox's user namespace then use that instance; the host's table is
 * untouched and nothing needs root. Older kernels have one global table: a host entry with
 * flag F is used when present, else the error names the command that adds one
 * (`lbox binfmt install`, as root, implemented by lbox_binfmt_install_host below).
 *
 * Entry bytes: ELF header of a 64-bit little-endian executable or PIE (e_type 2 or 3 via the
 * mask on byte 16) for EM_AARCH64 (183) or EM_X86_64 (62), OS ABI ignored. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "sandbox.h"

struct binfmt_entry {
    const char *arch;        /* lbox arch name */
    const char *qemu_name;   /* qemu's name of the arch */
    unsigned char magic[20], mask[20];
};

static const struct binfmt_entry entries[] = {
    {"arm64", "aarch64",
     {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0xb7, 0},
     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xfe, 0xff, 0xff, 0xff}},
    {"x86_64", "x86_64",
     {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0},
     {0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xfe, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xfe, 0xff, 0xff, 0xff}},
};

static const struct binfmt_entry *find_entry(const char *arch)
{
    if (!arch)
        return NULL;
    if (!strcmp(arch, "aarch64"))
        arch = "arm64";
    if (!strcmp(arch, "amd64"))
        arch = "x86_64";
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (!strcmp(entries[i].arch, arch))
            return &entries[i];
    return NULL;
}

const char *lbox_sandbox_host_arch(void)
{
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__aarch64__)
    return "arm64";
#else
    return "unknown";
#endif
}

const char *lbox_binfmt_default_qemu(const char *arch)
{
    const struct binfmt_entry *e = find_entry(arch);
    if (!e || !strcmp(e->arch, lbox_sandbox_host_arch()))
        return NULL;
    return !strcmp(e->arch, "arm64") ? "/usr/bin/qemu-aarch64-static"
                                     : "/usr/bin/qemu-x86_64-static";
}

static void escape(char *out, const unsigned char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out += sprintf(out, "\\x%02x", bytes[i]);
}

/* ":name:M:0:magic:mask:interpreter:F" */
static int format_line(char *buf, size_t len, const struct binfmt_entry *e, const char *name,
                       const char *qemu)
{
    char magic[81], mask[81];
    escape(magic, e->magic, sizeof e->magic);
    escape(mask, e->mask, sizeof e->mask);
    int n = snprintf(buf, len, ":%s:M:0:%s:%s:%s:F", name, magic, mask, qemu);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static bool kernel_has_private_binfmt(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
        return false;
    return major > 6 || (major == 6 && minor >= 7);
}

/* Whether the host's binfmt_misc has an enabled entry with flag F for these ELF bytes. */
static bool host_entry_usable(const struct binfmt_entry *e)
{
    char want[41];
    for (size_t i = 0; i < sizeof e->magic; i++)
        sprintf(want + 2 * i, "%02x", e->magic[i]);
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    DIR *d = opendir("/proc/sys/fs/binfmt_misc");
    if (!d)
        return false;
    bool ok = false;
    struct dirent *de;
    while (!ok && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "register") ||
            !strcmp(de->d_name, "status"))
            continue;
        char path[512];
        snprintf(path, sizeof path, "/proc/sys/fs/binfmt_misc/%s", de->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        bool enabled = false, fixed = false, magic = false;
        while (getline(&line, &cap, f) > 0) {
            line[strcspn(line, "\n")] = 0;
            if (!strcmp(line, "enabled"))
                enabled = true;
            else if (!strncmp(line, "flags: ", 7) && strchr(line + 7, 'F'))
                fixed = true;
            else if (!strncmp(line, "magic ", 6) && !strcmp(line + 6, want))
                magic = true;
        }
        fclose(f);
        ok = enabled && fixed && magic;
    }
    closedir(d);
    return ok;
}

int lbox_binfmt_plan(struct lbox_child_plan *plan, const char *arch, const char *qemu_path,
                     struct lbox_error *err)
{
    const struct binfmt_entry *e = find_entry(arch);
    if (!e)
        return lbox_err(err, LBOX_E_INVAL,
                        "sandbox: no QEMU binfmt entry for architecture \"%s\" (known: "
                        "x86_64, arm64)", arch ? arch : "(none)");
    if (qemu_path[0] != '/' || strlen(qemu_path) > 127 || strchr(qemu_path, ':'))
        return lbox_err(err, LBOX_E_INVAL,
                        "sandbox: QEMU path \"%s\" must be absolute, at most 127 characters "
                        "and without ':' (a binfmt_misc rule)", qemu_path);
    if (access(qemu_path, X_OK) < 0)
        return lbox_err_errno(err, errno,
                              "sandbox: QEMU interpreter %s for %s images (install Debian's "
                              "qemu-user-static or pass its path)", qemu_path, e->arch);
    plan->qemu = true;
    if (!strcmp(e->arch, "arm64"))
        snprintf(plan->qemu_cpu, sizeof plan->qemu_cpu, "%s", LBOX_QEMU_ARM64_CPU);
    if (kernel_has_private_binfmt()) {
        plan->binfmt_private = true;
        char name[64];
        snprintf(name, sizeof name, "lbox-qemu-%s", e->qemu_name);
        if (format_line(plan->binfmt_line, sizeof plan->binfmt_line, e, name, qemu_path) < 0)
            return lbox_err(err, LBOX_E_INVAL, "sandbox: binfmt_misc line too long");
        return 0;
    }
    if (host_entry_usable(e))
        return 0;
    return lbox_err(err, LBOX_E_UNSUPPORTED,
                    "sandbox: this kernel (< 6.7) cannot give a sandbox its own binfmt_misc, "
                    "and the host has no QEMU registration for %s with flag F. Fix it once "
                    "as root: lbox binfmt install --arch %s",
                    e->arch, e->arch);
}

int lbox_binfmt_register_private(const struct lbox_child_plan *plan, const char *mnt,
                                 const char **what)
{
    char reg[128];
    snprintf(reg, sizeof reg, "%s/register", mnt);
    if (mount("binfmt_misc", mnt, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        *what = "mounting a private binfmt_misc for QEMU (needs Linux >= 6.7; on older "
                "kernels register QEMU on the host as root: lbox binfmt install)";
        return -1;
    }
    int fd = open(reg, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        *what = "opening the private binfmt_misc register file";
        return -1;
    }
    size_t len = strlen(plan->binfmt_line);
    ssize_t n = write(fd, plan->binfmt_line, len);
    int e = errno;
    close(fd);
    if (n != (ssize_t)len) {
        errno = n < 0 ? e : EIO;
        *what = "registering QEMU in the private binfmt_misc";
        return -1;
    }
    /* Registered: nothing inside may add or change entries. */
    if (mount(NULL, mnt, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
                                   MS_NOEXEC, NULL) < 0) {
        *what = "making the private binfmt_misc read-only";
        return -1;
    }
    return 0;
}

int lbox_binfmt_install_host(const char *arch, const char *qemu_path, struct lbox_error *err)
{
    const struct binfmt_entry *e = find_entry(arch);
    if (!e)
        return lbox_err(err, LBOX_E_INVAL, "binfmt: unknown architecture \"%s\"", arch);
    if (!qemu_path)
        qemu_path = !strcmp(e->arch, "arm64") ? "/usr/bin/qemu-aarch64-static"
                                              : "/usr/bin/qemu-x86_64-static";
    /* Checked before the host changes at all (the mount below): a folder passes access(). */
    struct stat st;
    if (stat(qemu_path, &st) < 0)
        return lbox_err_errno(err, errno, "binfmt: %s (install qemu-user-static)", qemu_path);
    if (!S_ISREG(st.st_mode) || access(qemu_path, X_OK) < 0)
        return lbox_err(err, LBOX_E_INVAL,
                        "binfmt: %s is not an executable file; give the path of "
                        "qemu-%s-static (qemu-user-static)",
                        qemu_path, e->qemu_name);
    char line[1024], name[64];
    snprintf(name, sizeof name, "qemu-%s", e->qemu_name);
    if (format_line(line, sizeof line, e, name, qemu_path) < 0)
        return lbox_err(err, LBOX_E_INVAL, "binfmt: interpreter path too long");
    if (geteuid() != 0)
        return lbox_err(err, LBOX_E_UNSUPPORTED,
                        "binfmt: registering QEMU on the host changes it for every user and "
                        "needs root: run it again with sudo");
    const char *dir = "/proc/sys/fs/binfmt_misc";
    char reg[128], entry[128];
    snprintf(reg, sizeof reg, "%s/register", dir);
    if (access(reg, F_OK) < 0 &&
        mount("binfmt_misc", dir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return lbox_err_errno(err, errno, "binfmt: mounting binfmt_misc on %s", dir);
    if (host_entry_usable(e))
        return 0;
    snprintf(entry, sizeof entry, "%s/qemu-%s", dir, e->qemu_name);
    if (access(entry, F_OK) == 0) {
        /* An entry without flag F (e.g. Debian's default): replace it. */
        int fd = open(entry, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "-1", 2) != 2) {
            int x = errno;
            if (fd >= 0)
                close(fd);
            return lbox_err_errno(err, x, "binfmt: removing %s to re-add it with flag F",
                                  entry);
        }
        close(fd);
    }
    int fd = open(reg, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "binfmt: opening %s", reg);
    ssize_t n = write(fd, line, strlen(line));
    int x = errno;
    close(fd);
    if (n != (ssize_t)strlen(line))
        return lbox_err_errno(err, n < 0 ? x : EIO, "binfmt: writing %s", reg);
    return 0;
}
