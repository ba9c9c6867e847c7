/* Bounds-checked reading of an ELF header, its section headers and .gnu.version_r. */
#include "elf_info.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Section headers and version entries beyond these counts are not believed. */
#define ELF_MAX_SECTIONS 65536
#define ELF_MAX_VERNEED 4096

struct view {
    const uint8_t *p;
    size_t n;
    int is64, be;
};

/* Reads an unsigned field of `size` bytes at off; 0 when it lies outside the file. */
static int rd(const struct view *v, uint64_t off, unsigned size, uint64_t *out)
{
    if (off > v->n || size > v->n - off)
        return 0;
    uint64_t x = 0;
    for (unsigned i = 0; i < size; i++) {
        unsigned b = v->be ? i : size - 1 - i;
        x = (x << 8) | v->p[off + b];
    }
    *out = x;
    return 1;
}

/* A field of the 32- or 64-bit struct, picked by class: offset and size from <elf.h>. */
#define FIELD(v, T, f) ((v)->is64 ? offsetof(Elf64_##T, f) : offsetof(Elf32_##T, f))
#define FSIZE(v, T, f) \
    ((v)->is64 ? sizeof(((Elf64_##T *)0)->f) : sizeof(((Elf32_##T *)0)->f))
#define RD(v, base, T, f, out) rd(v, (base) + FIELD(v, T, f), FSIZE(v, T, f), out)

static int broken(const char *what, const char *why, struct lbox_error *err)
{
    return lbox_err(err, LBOX_E_ARCHIVE, "%s: broken ELF file (%s); rebuild it or remove it",
                    what, why);
}

/* "GLIBC_2.28" -> 2, 28, 0; returns 0 for other names (GLIBC_PRIVATE, GCC_3.0, ...). */
static int glibc_version(const char *s, size_t len, unsigned v[3])
{
    if (len < 8 || memcmp(s, "GLIBC_", 6) != 0)
        return 0;
    v[0] = v[1] = v[2] = 0;
    size_t i = 6;
    for (int part = 0; part < 3; part++) {
        if (i >= len || s[i] < '0' || s[i] > '9')
            return part >= 2;
        unsigned x = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && x < 100000)
            x = x * 10 + (unsigned)(s[i++] - '0');
        v[part] = x;
        if (i == len)
            return part >= 1;
        if (s[i] != '.')
            return 0;
        i++;
    }
    return 0;
}

static int version_above(const unsigned a[3], const struct lbox_elf_info *info)
{
    if (a[0] != info->glibc_major)
        return a[0] > info->glibc_major;
    if (a[1] != info->glibc_minor)
        return a[1] > info->glibc_minor;
    return a[2] > info->glibc_patch;
}

/* Walks one SHT_GNU_verneed section (Verneed/Vernaux have the same layout in both classes). */
static int read_verneed(const struct view *v, uint64_t off, uint64_t size, uint64_t count,
                        uint64_t stroff, uint64_t strsize, const char *what,
                        struct lbox_elf_info *info, struct lbox_error *err)
{
    if (off > v->n || size > v->n - off || stroff > v->n || strsize > v->n - stroff)
        return broken(what, "version section outside the file", err);
    struct view sec = { v->p + off, (size_t)size, v->is64, v->be };
    uint64_t at = 0;
    for (uint64_t i = 0; i < count && i < ELF_MAX_VERNEED; i++) {
        uint64_t cnt, aux, next;
        if (!rd(&sec, at + offsetof(Elf64_Verneed, vn_cnt), 2, &cnt) ||
            !rd(&sec, at + offsetof(Elf64_Verneed, vn_aux), 4, &aux) ||
            !rd(&sec, at + offsetof(Elf64_Verneed, vn_next), 4, &next))
            return broken(what, "truncated version needs", err);
        uint64_t a = at + aux;
        for (uint64_t j = 0; j < cnt && j < ELF_MAX_VERNEED; j++) {
            uint64_t name, anext;
            if (!rd(&sec, a + offsetof(Elf64_Vernaux, vna_name), 4, &name) ||
                !rd(&sec, a + offsetof(Elf64_Vernaux, vna_next), 4, &anext))
                return broken(what, "truncated version needs", err);
            if (name >= strsize)
                return broken(what, "version name outside its string table", err);
            const char *s = (const char *)v->p + stroff + name;
            const char *end = memchr(s, '\0', (size_t)(strsize - name));
            if (!end)
                return broken(what, "unterminated version name", err);
            unsigned ver[3];
            if (glibc_version(s, (size_t)(end - s), ver) && version_above(ver, info)) {
                info->glibc_major = ver[0];
                info->glibc_minor = ver[1];
                info->glibc_patch = ver[2];
            }
            if (anext == 0)
                break;
            a += anext;
        }
        if (next == 0)
            break;
        at += next;
    }
    return 0;
}

int lbox_elf_parse(const void *p, size_t n, const char *what, struct lbox_elf_info *info,
                   struct lbox_error *err)
{
    memset(info, 0, sizeof *info);
    const uint8_t *b = p;
    if (n < SELFMAG || memcmp(b, ELFMAG, SELFMAG) != 0)
        return 0;
    if (n < EI_NIDENT)
        return broken(what, "file shorter than its identification", err);
    if (b[EI_CLASS] != ELFCLASS32 && b[EI_CLASS] != ELFCLASS64)
        return broken(what, "unknown ELF class", err);
    if (b[EI_DATA] != ELFDATA2LSB && b[EI_DATA] != ELFDATA2MSB)
        return broken(what, "unknown byte order", err);
    struct view v = { b, n, b[EI_CLASS] == ELFCLASS64, b[EI_DATA] == ELFDATA2MSB };
    info->bits = v.is64 ? 64 : 32;
    info->big_endian = v.be;

    uint64_t machine, shoff, shentsize, shnum;
    if (!RD(&v, 0, Ehdr, e_machine, &machine) || !RD(&v, 0, Ehdr, e_shoff, &shoff) ||
        !RD(&v, 0, Ehdr, e_shentsize, &shentsize) || !RD(&v, 0, Ehdr, e_shnum, &shnum))
        return broken(what, "truncated ELF header", err);
    info->machine = (unsigned)machine;
    if (shoff == 0)
        return 1; /* no section headers: nothing more to learn without them */
    if (shentsize < (v.is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)))
        return broken(what, "section header entries too small", err);
    if (shnum == 0 && !RD(&v, shoff, Shdr, sh_size, &shnum)) /* extended numbering */
        return broken(what, "section headers outside the file", err);
    if (shnum > ELF_MAX_SECTIONS || shoff > n || shnum * shentsize > n - shoff)
        return broken(what, "section headers outside the file", err);

    for (uint64_t i = 0; i < shnum; i++) {
        uint64_t sh = shoff + i * shentsize, type, off, size, link, count;
        if (!RD(&v, sh, Shdr, sh_type, &type))
            return broken(what, "truncated section header", err);
        if (type != SHT_GNU_verneed)
            continue;
        if (!RD(&v, sh, Shdr, sh_offset, &off) || !RD(&v, sh, Shdr, sh_size, &size) ||
            !RD(&v, sh, Shdr, sh_link, &link) || !RD(&v, sh, Shdr, sh_info, &count))
            return broken(what, "truncated section header", err);
        if (link >= shnum)
            return broken(what, "version section links to a missing string table", err);
        uint64_t str = shoff + link * shentsize, stroff, strsize;
        if (!RD(&v, str, Shdr, sh_offset, &stroff) || !RD(&v, str, Shdr, sh_size, &strsize))
            return broken(what, "truncated section header", err);
        if (read_verneed(&v, off, size, count, stroff, strsize, what, info, err) < 0)
            return -1;
    }
    return 1;
}

int lbox_elf_read_file(const char *path, struct lbox_elf_info *info, struct lbox_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return lbox_err_errno(err, e, "cannot stat '%s'", path);
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        memset(info, 0, sizeof *info);
        return 0;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return lbox_err_errno(err, e, "cannot map '%s'", path);
    int rc = lbox_elf_parse(m, (size_t)st.st_size, path, info, err);
    munmap(m, (size_t)st.st_size);
    return rc;
}

const char *lbox_elf_machine_name(unsigned machine)
{
    switch (machine) {
    case EM_X86_64: return "x86_64";
    case EM_AARCH64: return "arm64";
    case EM_386: return "i386";
    case EM_ARM: return "arm (32-bit)";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390x";
    case EM_RISCV: return "riscv";
    case EM_MIPS: return "mips";
    default: return NULL;
    }
}
