/* A small, bounds-checked ELF reader: just what lint needs to know about a native addon or a
 * binary. Any byte of the file may be hostile; nothing is read outside it, every loop is
 * bounded. 32/64-bit and little/big-endian files are all read. */
#ifndef LBOX_ELF_INFO_H
#define LBOX_ELF_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

struct lbox_elf_info {
    int bits;            /* 32 or 64 */
    int big_endian;      /* 0 little, 1 big */
    unsigned machine;    /* e_machine (EM_X86_64, EM_AARCH64, ...) */
    /* Highest GLIBC_x.y[.z] version required through .gnu.version_r; all 0 when none. */
    unsigned glibc_major, glibc_minor, glibc_patch;
};

/* Reads the ELF in memory buffer p[0..n). Returns 1 and fills *info for an ELF, 0 when the
 * bytes do not start with the ELF magic, -1 (LBOX_E_ARCHIVE, naming `what`) for an ELF whose
 * headers are broken or point outside the file. */
int lbox_elf_parse(const void *p, size_t n, const char *what, struct lbox_elf_info *info,
                   struct lbox_error *err);

/* The same for a file (mapped read-only, never following a final symlink). */
int lbox_elf_read_file(const char *path, struct lbox_elf_info *info, struct lbox_error *err);

/* "x86_64", "arm64", "i386", ... or NULL for machines lbox has no name for. */
const char *lbox_elf_machine_name(unsigned machine);

#endif
