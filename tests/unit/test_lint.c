/* Lint of native addons: hand-built ELF files of every class, byte order and machine, hostile
 * headers, and real shared objects of the host. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/elf_info.h"
#include "builder/lint.h"
#include "common/fsutil.h"

/* ---- a tiny ELF writer: header, .dynstr, .gnu.version_r, section headers ---- */

struct elfgen {
    int is64, be;
    uint8_t buf[4096];
    size_t len;
};

static void put(struct elfgen *g, size_t off, unsigned size, uint64_t v)
{
    assert_true(off + size <= sizeof g->buf);
    for (unsigned i = 0; i < size; i++) {
        unsigned shift = 8 * (g->be ? size - 1 - i : i);
        g->buf[off + i] = (uint8_t)(v >> shift);
    }
}

#define F(g, T, f) ((g)->is64 ? offsetof(Elf64_##T, f) : offsetof(Elf32_##T, f))
#define S(g, T, f) ((g)->is64 ? sizeof(((Elf64_##T *)0)->f) : sizeof(((Elf32_##T *)0)->f))
#define PUT(g, base, T, f, v) put(g, (base) + F(g, T, f), (unsigned)S(g, T, f), v)

/* An ELF shared object for `machine` whose .gnu.version_r needs the given versions of
 * libc.so.6 (none: no version section at all). Returns the offset of the section headers. */
static size_t elf_build(struct elfgen *g, int is64, int be, unsigned machine,
                        const char *const *versions, size_t nver)
{
    memset(g, 0, sizeof *g);
    g->is64 = is64;
    g->be = be;
    memcpy(g->buf, ELFMAG, SELFMAG);
    g->buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
    g->buf[EI_DATA] = be ? ELFDATA2MSB : ELFDATA2LSB;
    g->buf[EI_VERSION] = EV_CURRENT;
    size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t shsize = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    PUT(g, 0, Ehdr, e_type, ET_DYN);
    PUT(g, 0, Ehdr, e_machine, machine);
    PUT(g, 0, Ehdr, e_version, EV_CURRENT);
    PUT(g, 0, Ehdr, e_ehsize, ehsize);
    PUT(g, 0, Ehdr, e_shentsize, shsize);

    /* .dynstr: "\0libc.so.6\0<versions>..." */
    size_t str = ehsize, at = str + 1, name_off[8];
    memcpy(g->buf + at, "libc.so.6", 10);
    at += 10;
    for (size_t i = 0; i < nver; i++) {
        name_off[i] = at - str;
        memcpy(g->buf + at, versions[i], strlen(versions[i]) + 1);
        at += strlen(versions[i]) + 1;
    }
    size_t strsize = at - str;
    at = (at + 7) & ~(size_t)7;

    /* .gnu.version_r: one Verneed for libc.so.6 followed by its Vernaux entries. */
    size_t vr = at;
    if (nver) {
        put(g, vr + offsetof(Elf64_Verneed, vn_version), 2, 1);
        put(g, vr + offsetof(Elf64_Verneed, vn_cnt), 2, nver);
        put(g, vr + offsetof(Elf64_Verneed, vn_file), 4, 1);
        put(g, vr + offsetof(Elf64_Verneed, vn_aux), 4, sizeof(Elf64_Verneed));
        for (size_t i = 0; i < nver; i++) {
            size_t a = vr + sizeof(Elf64_Verneed) + i * sizeof(Elf64_Vernaux);
            put(g, a + offsetof(Elf64_Vernaux, vna_name), 4, name_off[i]);
            put(g, a + offsetof(Elf64_Vernaux, vna_next), 4,
                i + 1 < nver ? sizeof(Elf64_Vernaux) : 0);
        }
        at = vr + sizeof(Elf64_Verneed) + nver * sizeof(Elf64_Vernaux);
    }
    size_t vrsize = at - vr;
    at = (at + 7) & ~(size_t)7;

    /* Section headers: null, .dynstr, .gnu.version_r. */
    size_t sh = at, nsec = nver ? 3 : 2;
    PUT(g, 0, Ehdr, e_shoff, sh);
    PUT(g, 0, Ehdr, e_shnum, nsec);
    size_t s1 = sh + shsize;
    PUT(g, s1, Shdr, sh_type, SHT_STRTAB);
    PUT(g, s1, Shdr, sh_offset, str);
    PUT(g, s1, Shdr, sh_size, strsize);
    if (nver) {
        size_t s2 = sh + 2 * shsize;
        PUT(g, s2, Shdr, sh_type, SHT_GNU_verneed);
        PUT(g, s2, Shdr, sh_offset, vr);
        PUT(g, s2, Shdr, sh_size, vrsize);
        PUT(g, s2, Shdr, sh_link, 1);
        PUT(g, s2, Shdr, sh_info, 1);
    }
    g->len = sh + nsec * shsize;
    return sh;
}

/* ---- fixtures ---- */

struct fx {
    char dir[64];
    struct lbox_lint_finding *f;
    size_t n;
    struct lbox_error err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/lbox-test-lint-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    struct lbox_error err;
    lbox_lint_findings_free(f->f, f->n);
    lbox_rm_rf(f->dir, &err);
    free(f);
    return 0;
}

static char *in(struct fx *f, const char *rel)
{
    static char buf[2][512];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", f->dir, rel);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
    struct lbox_error err;
    char *dir = strdup(path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(lbox_mkdir_p(dir, 0755, &err), 0);
    free(dir);
    assert_int_equal(lbox_write_file_atomic(path, p, n, mode, &err), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void lint(struct fx *f, const char *arch)
{
    lbox_lint_findings_free(f->f, f->n);
    f->f = NULL;
    f->n = 0;
    assert_int_equal(lbox_lint_tree(f->dir, arch, &f->f, &f->n, &f->err), 0);
}

static void assert_finding(struct fx *f, size_t i, int severity, const char *rel,
                           const char *needle)
{
    assert_true(i < f->n);
    assert_int_equal(f->f[i].severity, severity);
    assert_string_equal(f->f[i].path, in(f, rel));
    if (!strstr(f->f[i].message, needle))
        fail_msg("finding '%s' lacks '%s'", f->f[i].message, needle);
}

static const char *const glibc228[] = { "GLIBC_2.2.5", "GLIBC_2.28", "GLIBC_2.17" };

static void test_x86_64_addon_needing_glibc_228(void **state)
{
    struct fx *f = *state;
    struct elfgen g;
    elf_build(&g, 1, 0, EM_X86_64, glibc228, 3);
    write_bytes(in(f, "node_modules/x/build/Release/addon.node"), g.buf, g.len, 0755);

    lint(f, "x86_64");
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_WARNING, "node_modules/x/build/Release/addon.node",
                   "needs GLIBC_2.28, above Amazon Linux 2's glibc 2.26");

    lint(f, "arm64");
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_ERROR, "node_modules/x/build/Release/addon.node",
                   "built for x86_64 (64-bit little-endian), but the image is arm64");
}

static void test_aarch64_addon(void **state)
{
    struct fx *f = *state;
    struct elfgen g;
    const char *const old[] = { "GLIBC_2.17" };
    elf_build(&g, 1, 0, EM_AARCH64, old, 1);
    write_bytes(in(f, "a.node"), g.buf, g.len, 0644);
    elf_build(&g, 1, 0, EM_AARCH64, NULL, 0); /* no version section at all */
    write_bytes(in(f, "b.node"), g.buf, g.len, 0644);

    lint(f, "aarch64");
    assert_int_equal(f->n, 0);
    lint(f, "amd64");
    assert_int_equal(f->n, 2);
    assert_finding(f, 0, LBOX_LINT_ERROR, "a.node", "built for arm64");
    assert_finding(f, 1, LBOX_LINT_ERROR, "b.node", "the image is x86_64");
}

static void test_32bit_big_endian(void **state)
{
    struct fx *f = *state;
    struct elfgen g;
    const char *const v[] = { "GLIBC_2.30", "GLIBC_PRIVATE" };
    elf_build(&g, 0, 1, EM_PPC, v, 2);
    struct lbox_elf_info info;
    assert_int_equal(lbox_elf_parse(g.buf, g.len, "mem", &info, &f->err), 1);
    assert_int_equal(info.bits, 32);
    assert_int_equal(info.big_endian, 1);
    assert_int_equal(info.machine, EM_PPC);
    assert_int_equal(info.glibc_major, 2);
    assert_int_equal(info.glibc_minor, 30);

    write_bytes(in(f, "ppc.node"), g.buf, g.len, 0644);
    lint(f, "x86_64");
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_ERROR, "ppc.node",
                   "built for ELF machine 20 (32-bit big-endian)");

    /* An x86_64 machine number in a 32-bit file still cannot load. */
    elf_build(&g, 0, 0, EM_X86_64, NULL, 0);
    write_bytes(in(f, "ppc.node"), g.buf, g.len, 0644);
    lint(f, "x86_64");
    assert_finding(f, 0, LBOX_LINT_ERROR, "ppc.node", "(32-bit little-endian)");
}

static void test_non_elf_and_symlinks(void **state)
{
    struct fx *f = *state;
    write_bytes(in(f, "fake.node"), "#!/bin/sh\n", 10, 0644);
    write_bytes(in(f, "index.js"), "x", 1, 0644);
    struct elfgen g;
    elf_build(&g, 1, 0, EM_AARCH64, NULL, 0);
    write_bytes(in(f, "target.bin"), g.buf, g.len, 0644);
    assert_int_equal(symlink("target.bin", in(f, "link.node")), 0); /* never followed */
    lint(f, "x86_64");
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_WARNING, "fake.node", "is not an ELF shared object");
}

static void test_hostile_headers(void **state)
{
    struct fx *f = *state;
    struct elfgen g;
    struct lbox_elf_info info;
    size_t sh = elf_build(&g, 1, 0, EM_X86_64, glibc228, 3);
    size_t shsize = sizeof(Elf64_Shdr);

    struct elfgen bad = g;
    PUT(&bad, 0, Ehdr, e_shoff, 1u << 30); /* section headers past the end */
    assert_int_equal(lbox_elf_parse(bad.buf, bad.len, "h1", &info, &f->err), -1);
    assert_int_equal(f->err.code, LBOX_E_ARCHIVE);

    bad = g;
    PUT(&bad, sh + 2 * shsize, Shdr, sh_link, 99); /* string table that does not exist */
    assert_int_equal(lbox_elf_parse(bad.buf, bad.len, "h2", &info, &f->err), -1);

    bad = g;
    PUT(&bad, sh + shsize, Shdr, sh_size, 3); /* version names outside their string table */
    assert_int_equal(lbox_elf_parse(bad.buf, bad.len, "h3", &info, &f->err), -1);
    assert_non_null(strstr(f->err.msg, "h3: broken ELF file"));

    bad = g;
    PUT(&bad, sh + 2 * shsize, Shdr, sh_size, (uint64_t)-1); /* absurd section size */
    assert_int_equal(lbox_elf_parse(bad.buf, bad.len, "h4", &info, &f->err), -1);

    bad = g;
    PUT(&bad, 0, Ehdr, e_shentsize, 4); /* entries too small to be section headers */
    assert_int_equal(lbox_elf_parse(bad.buf, bad.len, "h5", &info, &f->err), -1);

    bad = g;
    bad.buf[EI_CLASS] = 7;
    assert_int_equal(lbox_elf_parse(bad.buf, bad.len, "h6", &info, &f->err), -1);

    /* Every truncation and every single-byte corruption: a clean answer, never a crash or a
     * read outside the buffer (the ASan build runs this too). */
    for (size_t n = 0; n < g.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, g.buf, n);
        int rc = lbox_elf_parse(copy, n, "cut", &info, &f->err);
        assert_true(rc >= -1 && rc <= 1);
        free(copy);
    }
    for (size_t i = 0; i < g.len; i++) {
        for (unsigned v = 0; v < 256; v += 51) {
            bad = g;
            bad.buf[i] ^= (uint8_t)(v | 1);
            int rc = lbox_elf_parse(bad.buf, bad.len, "flip", &info, &f->err);
            assert_true(rc >= -1 && rc <= 1);
        }
    }

    /* In a tree, a broken addon is an error finding; the walk goes on. */
    bad = g;
    PUT(&bad, 0, Ehdr, e_shoff, 1u << 30);
    write_bytes(in(f, "broken.node"), bad.buf, bad.len, 0644);
    write_bytes(in(f, "z.node"), "not elf", 7, 0644);
    lint(f, "x86_64");
    assert_int_equal(f->n, 2);
    assert_finding(f, 0, LBOX_LINT_ERROR, "broken.node", "broken ELF file");
    assert_finding(f, 1, LBOX_LINT_WARNING, "z.node", "not an ELF");
}

#if defined(__x86_64__)
#define HOST_LIBDIR "/lib/x86_64-linux-gnu"
#define HOST_ARCH "x86_64"
#define OTHER_ARCH "arm64"
#elif defined(__aarch64__)
#define HOST_LIBDIR "/lib/aarch64-linux-gnu"
#define HOST_ARCH "arm64"
#define OTHER_ARCH "x86_64"
#endif

static void copy_to(const char *from, const char *to)
{
    struct lbox_error err;
    if (lbox_copy_file(from, to, &err) < 0)
        fail_msg("%s", err.msg);
}

static void test_real_shared_objects(void **state)
{
    struct fx *f = *state;
    copy_to(HOST_LIBDIR "/libc.so.6", in(f, "libc.node"));
    lint(f, HOST_ARCH);
    for (size_t i = 0; i < f->n; i++)
        assert_int_equal(f->f[i].severity, LBOX_LINT_WARNING); /* the machine matches */
    lint(f, OTHER_ARCH);
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_ERROR, "libc.node", "built for " HOST_ARCH);
    unlink(in(f, "libc.node"));

    /* Debian 12's libstdc++ needs GLIBC_2.3x: loads here, not on Amazon Linux 2. */
    copy_to(HOST_LIBDIR "/libstdc++.so.6", in(f, "libstdcxx.node"));
    struct lbox_elf_info info;
    assert_int_equal(lbox_elf_read_file(in(f, "libstdcxx.node"), &info, &f->err), 1);
    assert_int_equal(info.bits, 64);
    assert_int_equal(info.glibc_major, 2);
    assert_true(info.glibc_minor >= 30);
    lint(f, HOST_ARCH);
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_WARNING, "libstdcxx.node", "needs GLIBC_2.3");
}

static void test_unreadable_files(void **state)
{
    struct fx *f = *state;
    write_bytes(in(f, "ok.js"), "x", 1, 0644);
    write_bytes(in(f, "a-private.js"), "x", 1, 0600);
    lint(f, "x86_64");
    assert_int_equal(f->n, 1);
    assert_finding(f, 0, LBOX_LINT_WARNING, "a-private.js", "mode 0600");

    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "locked/f%d.js", i);
        write_bytes(in(f, name), "x", 1, 0640);
    }
    assert_int_equal(chmod(in(f, "locked"), 0750), 0);
    lint(f, "x86_64");
    assert_int_equal(f->n, 6); /* 5 named, then a count */
    assert_finding(f, 1, LBOX_LINT_WARNING, "locked", "cannot list or enter it");
    assert_string_equal(f->f[5].path, f->dir);
    assert_non_null(strstr(f->f[5].message, "3 more files or directories"));
}

static void test_unknown_arch(void **state)
{
    struct fx *f = *state;
    assert_int_equal(lbox_lint_tree(f->dir, "mips", &f->f, &f->n, &f->err), -1);
    assert_int_equal(f->err.code, LBOX_E_INVAL);
    assert_non_null(strstr(f->err.msg, "'mips'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_x86_64_addon_needing_glibc_228, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aarch64_addon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_32bit_big_endian, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_elf_and_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_shared_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_arch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
