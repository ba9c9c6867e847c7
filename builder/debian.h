/* Debian 12 ("bookworm") packages as the source of a base userland.
 *
 * Flow: pick a mirror (flag, env, or the host's apt sources) → read dists/<suite>/Release →
 * fetch each component's Packages index pinned by the SHA256 that Release lists → resolve
 * the wanted names through Depends/Pre-Depends → fetch each .deb pinned by the SHA256 from
 * the index → extract its data.tar.* into a root directory with libarchive.
 *
 * Trust: everything after the Release file is verified by digest (index against Release,
 * .deb against index). The Release file itself is NOT verified with GPG (Debian signs
 * InRelease / Release.gpg); an attacker who controls the mirror or the network path to an
 * http mirror can serve a consistent forged set. Use an https mirror you trust.
 *
 * Maintainer scripts (preinst/postinst) are never run and dpkg's database is not written.
 * The builder must therefore do itself what those scripts would have done for a
 * Lambda-like image:
 *   - write /etc/passwd, /etc/group (and /etc/shadow if wanted) — base-passwd's postinst
 *     would have created them;
 *   - create /bin/sh -> bash (on Debian /bin/sh belongs to dash, which the package list
 *     leaves out);
 *   - build /etc/ssl/certs/ca-certificates.crt from usr/share/ca-certificates/ (what
 *     update-ca-certificates does) — the .crt files are installed, the bundle is not;
 *   - /etc/localtime and /etc/timezone if a zone other than UTC is wanted (tzdata's
 *     postinst); usr/share/zoneinfo is installed.
 * Conflicts/Breaks/Replaces and Recommends are ignored: the package list is curated.
 * Essential packages are not added implicitly (Debian packages never declare a dependency on
 * them, e.g. debconf needs perl-base): list every one the image needs.
 * Extraction as a non-root user drops setuid/setgid bits (libarchive keeps them only when
 * the file's owner is the one the package names, root); Lambda runs functions as a non-root
 * user without privilege escalation anyway. */
#ifndef LBOX_DEBIAN_H
#define LBOX_DEBIAN_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "fetch.h"

/* Appended to every network error about the Debian mirror. */
#define LBOX_DEBIAN_MIRROR_HINT "set --debian-mirror or LBOX_DEBIAN_MIRROR"

struct lbox_deb_source {
    char *mirror;        /* e.g. "http://host/debian" (no trailing slash needed); file:// works */
    char *suite;         /* "bookworm" */
    char **components;   /* { "main" } */
    size_t ncomponents;
    char *arch;          /* Debian arch: "amd64" | "arm64" */
};

/* Mirror choice: `flag` if non-NULL and non-empty, else env LBOX_DEBIAN_MIRROR, else the
 * host's apt sources (/etc/apt/sources.list, then /etc/apt/sources.list.d/ *.list and
 * *.sources in name order; one-line and deb822 forms): the first `deb` entry (not deb-src,
 * not Enabled: no) whose suite is `suite` and whose components include main, with an
 * http, https or file URI. *mirror is malloc'd, without trailing slash. No mirror →
 * LBOX_E_NOTFOUND naming --debian-mirror and LBOX_DEBIAN_MIRROR. */
int lbox_debian_pick_mirror(const char *flag, const char *suite, char **mirror,
                            struct lbox_error *err);

struct lbox_deb_pkg {
    char *name, *version, *arch;
    char *filename;            /* pool path relative to the mirror */
    char *sha256;              /* 64 lowercase hex */
    uint64_t size;             /* .deb size in bytes */
    uint64_t installed_kb;     /* Installed-Size (KiB), 0 if unknown */
};

struct lbox_deb_set {
    struct lbox_deb_pkg *pkgs; /* sorted by name */
    size_t n;
};

/* Fetches dists/<suite>/Release (unpinned, reused while younger than index_max_age_s),
 * finds <component>/binary-<arch>/Packages.xz (else .gz, else uncompressed) in its SHA256
 * list, fetches that pinned by digest (by-hash URL when the Release advertises it), parses
 * it and resolves `wanted`: Depends and Pre-Depends; alternatives "a | b" (one already
 * selected wins, else the first that exists); virtual packages through Provides (a selected
 * provider wins, else the one with the highest Priority, then the smallest name); version
 * constraints = >= <= >> << with Debian's version order (also against versioned Provides);
 * ":any" / ":native" / ":<arch>" qualifiers. Only the target arch and "all" are installed,
 * so Multi-Arch only matters for explicit foreign-arch qualifiers, which never match.
 * The result is sorted by name and depends only on the index and `wanted`.
 * An unknown wanted name → LBOX_E_NOTFOUND naming it; an unsatisfiable dependency →
 * LBOX_E_NOTFOUND naming the package and the dependency. */
int lbox_debian_resolve(struct lbox_fetcher *f, const struct lbox_deb_source *src,
                        const char *const *wanted, size_t nwanted, long index_max_age_s,
                        struct lbox_deb_set *out, struct lbox_error *err);

/* Fetches every .deb of `set` pinned by its sha256 and extracts its data.tar.* into
 * `rootdir` (created if missing). Merged /usr: bin, sbin, lib, lib64 are made symlinks to
 * usr/... first, and entries under ./bin ./sbin ./lib ./lib64 are written under usr/
 * instead (relative symlink targets that climb out of them are adjusted). Entries with "..",
 * absolute names or device nodes are refused (LBOX_E_ARCHIVE naming the package and entry);
 * libarchive's SECURE_SYMLINKS and SECURE_NODOTDOT are on and ownership is not restored.
 * (The disk writer is given absolute names under realpath(rootdir) so that no process-wide
 * chdir is needed; hence not SECURE_NOABSOLUTEPATHS, whose job the name mapping does.)
 * Skipped to keep images small: usr/share/{doc,man,info,locale}/ except
 * usr/share/doc/<pkg>/copyright (licences travel with the image).
 * On failure `rootdir` is left partly populated: extract into a temporary directory and
 * remove it on error. */
int lbox_debian_install(struct lbox_fetcher *f, const struct lbox_deb_source *src,
                        const struct lbox_deb_set *set, const char *rootdir,
                        struct lbox_error *err);

/* Writes "name version arch sha256\n" lines sorted by name to `path` (atomically; parent
 * directories created). The builder puts it at /var/lib/lbox/packages.txt in the image. */
int lbox_deb_set_write_manifest(const struct lbox_deb_set *s, const char *path,
                                struct lbox_error *err);

void lbox_deb_set_free(struct lbox_deb_set *s);

#endif
