/* Walks code and layers for native addons that cannot load on Lambda and for files the
 * function's user cannot read. */
#include "lint.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "code.h"
#include "elf_info.h"

/* Unreadable files are usually a whole tree made with a strict umask: name a few, count the rest. */
#define LINT_MAX_PERM_FINDINGS 5

struct lint {
    unsigned machine;
    const char *arch;
    struct lbox_lint_finding *v;
    size_t n, cap;
    size_t perm_found;
};

static void add(struct lint *l, int severity, const char *path, char *message)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = lbox_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (struct lbox_lint_finding){ severity, lbox_xstrdup(path), message };
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void check_addon(struct lint *l, const char *path)
{
    struct lbox_elf_info info;
    struct lbox_error e = { 0 };
    int rc = lbox_elf_read_file(path, &info, &e);
    if (rc < 0) {
        add(l, LBOX_LINT_ERROR, path, lbox_strdupf("native addon cannot be read: %s", e.msg));
        return;
    }
    if (rc == 0) {
        add(l, LBOX_LINT_WARNING, path,
            lbox_strdupf("is named .node but is not an ELF shared object, so Node.js cannot "
                         "load it as a native addon on Lambda; rebuild it for linux-%s",
                         l->arch));
        return;
    }
    const char *name = lbox_elf_machine_name(info.machine);
    char unknown[32];
    if (!name) {
        snprintf(unknown, sizeof unknown, "ELF machine %u", info.machine);
        name = unknown;
    }
    if (info.machine != l->machine || info.bits != 64 || info.big_endian) {
        add(l, LBOX_LINT_ERROR, path,
            lbox_strdupf("native addon is built for %s (%d-bit %s-endian), but the image is "
                         "%s (64-bit little-endian); reinstall the package with "
                         "npm install --cpu=%s --os=linux (or build it on a linux-%s machine)",
                         name, info.bits, info.big_endian ? "big" : "little", l->arch,
                         l->machine == EM_AARCH64 ? "arm64" : "x64", l->arch));
        return;
    }
    if (info.glibc_major > LBOX_LINT_GLIBC_MAJOR ||
        (info.glibc_major == LBOX_LINT_GLIBC_MAJOR && info.glibc_minor > LBOX_LINT_GLIBC_MINOR)) {
        char ver[48];
        if (info.glibc_patch)
            snprintf(ver, sizeof ver, "GLIBC_%u.%u.%u", info.glibc_major, info.glibc_minor,
                     info.glibc_patch);
        else
            snprintf(ver, sizeof ver, "GLIBC_%u.%u", info.glibc_major, info.glibc_minor);
        add(l, LBOX_LINT_WARNING, path,
            lbox_strdupf("native addon needs %s, above Amazon Linux 2's glibc %d.%d: it loads "
                         "in this image but fails on Lambda's nodejs14.x/16.x/18.x with "
                         "\"version `%s' not found\"; build it on Amazon Linux 2 "
                         "(or a glibc 2.26 toolchain)",
                         ver, LBOX_LINT_GLIBC_MAJOR, LBOX_LINT_GLIBC_MINOR, ver));
    }
}

static void check_perm(struct lint *l, const char *path, const struct stat *st)
{
    int dir = S_ISDIR(st->st_mode);
    mode_t need = dir ? (S_IROTH | S_IXOTH) : S_IROTH;
    if ((st->st_mode & need) == need)
        return;
    if (++l->perm_found > LINT_MAX_PERM_FINDINGS)
        return;
    add(l, LBOX_LINT_WARNING, path,
        lbox_strdupf("mode %04o: the function's user cannot %s it, and Lambda keeps the zip's "
                     "permissions (EACCES at run time); chmod -R a+rX the code before zipping",
                     (unsigned)(st->st_mode & 07777), dir ? "list or enter" : "read"));
}

static int walk(struct lint *l, int dfd, const char *dirpath, int depth, struct lbox_error *err)
{
    /* The code and layers never get here that deep: lbox_code_install refuses them first,
     * naming the entry; this stays for trees lint is given otherwise. */
    if (depth > LBOX_CODE_MAX_DEPTH)
        return lbox_err(err, LBOX_E_INVAL, "%s: directories nested deeper than %d levels",
                        dirpath, LBOX_CODE_MAX_DEPTH);
    size_t n = 0;
    char **names = lbox_dir_names_at(dfd, &n); /* sorted: findings in a stable order */
    if (!names)
        return lbox_err_errno(err, errno, "lint: cannot read directory '%s'", dirpath);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = lbox_path_join(dirpath, names[i]);
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = lbox_err_errno(err, errno, "lint: cannot stat '%s'", path);
        } else if (S_ISDIR(st.st_mode)) {
            check_perm(l, path, &st);
            int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = lbox_err_errno(err, errno, "lint: cannot open directory '%s'", path);
            } else {
                rc = walk(l, sub, path, depth + 1, err);
                close(sub);
            }
        } else if (S_ISREG(st.st_mode)) {
            check_perm(l, path, &st);
            if (ends_with(names[i], ".node"))
                check_addon(l, path);
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int lbox_lint_tree(const char *root, const char *arch, struct lbox_lint_finding **findings,
                   size_t *n, struct lbox_error *err)
{
    *findings = NULL;
    *n = 0;
    struct lint l = { 0 };
    if (!strcmp(arch, "x86_64") || !strcmp(arch, "amd64")) {
        l.machine = EM_X86_64;
        l.arch = "x86_64";
    } else if (!strcmp(arch, "arm64") || !strcmp(arch, "aarch64")) {
        l.machine = EM_AARCH64;
        l.arch = "arm64";
    } else {
        return lbox_err(err, LBOX_E_INVAL, "lint: unknown architecture '%s' (x86_64 or arm64)",
                        arch);
    }
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "lint: cannot open '%s'", root);
    int rc = walk(&l, fd, root, 0, err);
    close(fd);
    if (rc == 0 && l.perm_found > LINT_MAX_PERM_FINDINGS)
        add(&l, LBOX_LINT_WARNING, root,
            lbox_strdupf("%zu more files or directories the function's user cannot read",
                         l.perm_found - LINT_MAX_PERM_FINDINGS));
    if (rc < 0) {
        lbox_lint_findings_free(l.v, l.n);
        return -1;
    }
    *findings = l.v;
    *n = l.n;
    return 0;
}

void lbox_lint_findings_free(struct lbox_lint_finding *findings, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(findings[i].path);
        free(findings[i].message);
    }
    free(findings);
}
