#include "npm_install.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "../common/shown.h"
#include "../sandbox/sandbox.h"
#include "ca_certs.h"
#include "cache_temp.h"
#include "code.h"
#include "debian.h"
#include "extract.h"
#include "layout.h"
#include "npm_network.h"
#include "recipe.h"
#include "sources.h"

/* Bump when what a build environment holds for the same inputs changes. */
#define BUILDENV_VERSION "lbox-buildenv-2"

/* Inside the build environment: a folder the sandbox binds per run, holding the
 * resolv.conf of npm's network (the environment is shared and read-only) and extra CAs. */
#define HOST_FILES_DIR "run/lbox"

struct headers_pin {
    char *version, *integrity, *common_gypi;
};

static void headers_pin_free(struct headers_pin *h)
{
    free(h->version);
    free(h->integrity);
    free(h->common_gypi);
}

static int load_headers_pin(const char *recipe_dir, struct headers_pin *h, struct lbox_error *err)
{
    _cleanup_free_ char *path = lbox_path_join(recipe_dir, "buildenv/headers.json");
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return lbox_err(err, LBOX_E_INVAL, "%s: %s (line %d)", path, je.text, je.line);
    const char *v = json_string_value(json_object_get(j, "version"));
    const char *i = json_string_value(json_object_get(j, "integrity"));
    const char *g = json_string_value(json_object_get(j, "common_gypi"));
    int rc = 0;
    if (!v || !i || !g || strchr(g, '/'))
        rc = lbox_err(err, LBOX_E_INVAL, "%s: needs string fields version, integrity and "
                      "common_gypi (a file name next to it)", path);
    else {
        h->version = lbox_xstrdup(v);
        h->integrity = lbox_xstrdup(i);
        h->common_gypi = lbox_strdupf("%s/buildenv/%s", recipe_dir, g);
    }
    json_decref(j);
    return rc;
}

/* debian.build_packages of the recipe (the loader of struct lbox_recipe does not keep it). */
static int load_build_packages(const struct lbox_recipe *r, char ***out, size_t *n,
                               struct lbox_error *err)
{
    _cleanup_free_ char *path = lbox_strdupf("%s/%s.json", r->dir, r->runtime);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return lbox_err(err, LBOX_E_INVAL, "%s: %s (line %d)", path, je.text, je.line);
    json_t *a = json_object_get(json_object_get(j, "debian"), "build_packages");
    size_t len = json_array_size(a);
    if (!json_is_array(a) || len == 0) {
        json_decref(j);
        return lbox_err(err, LBOX_E_INVAL,
                        "%s: debian.build_packages lists no packages (the compiler and tools "
                        "that node-gyp needs, e.g. make, g++, python3)", path);
    }
    *out = lbox_xcalloc(len, sizeof **out);
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s)
            (*out)[(*n)++] = lbox_xstrdup(s);
    }
    json_decref(j);
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void hash_str(struct lbox_hash *h, const char *s)
{
    s = s ? s : "";
    lbox_hash_update(h, s, strlen(s) + 1);
}

/* node-gyp's headers: the release tarball's include/ when Node.js came from it, else the
 * Node-API headers package plus lbox's common.gypi. */
static int install_headers(struct lbox_fetcher *f, const struct lbox_node_archive *a,
                           const struct headers_pin *pin, const char *registry_flag,
                           const char *root, struct lbox_error *err)
{
    _cleanup_free_ char *inc = lbox_path_join(root, "var/lang/include");
    if (a->from == LBOX_NODE_DIST) {
        _cleanup_free_ char *strip = lbox_strdupf("%sinclude/", a->strip);
        return lbox_extract_subtree(a->path, strip, inc, NULL, err);
    }
    _cleanup_free_ char *dir = lbox_path_join(inc, "node");
    _cleanup_free_ char *gypi = lbox_path_join(dir, "common.gypi");
    _cleanup_free_ char *tgz = NULL;
    if (!lbox_fetch_cached(f, pin->integrity, &tgz)) {
        _cleanup_free_ char *reg = NULL;
        if (lbox_npm_registry(registry_flag, &reg, err) < 0)
            return -1;
        _cleanup_free_ char *url = lbox_strdupf("%s/node-api-headers/-/node-api-headers-%s.tgz",
                                                reg, pin->version);
        if (lbox_fetch_pinned(f, url, pin->integrity,
                              "set --npm-registry or LBOX_NPM_REGISTRY, or configure npm's "
                              "registry", &tgz, err) < 0)
            return -1;
    }
    if (lbox_mkdir_p(dir, 0755, err) < 0 ||
        lbox_extract_subtree(tgz, "package/include/", dir, NULL, err) < 0 ||
        lbox_copy_file(pin->common_gypi, gypi, err) < 0)
        return -1;
    return chmod(gypi, 0644) < 0 ? lbox_err_errno(err, errno, "chmod %s", gypi) : 0;
}

/* DNS from the host, read at each run through the bound HOST_FILES_DIR. */
static int link_resolv_conf(const char *root, struct lbox_error *err)
{
    _cleanup_free_ char *dir = lbox_path_join(root, HOST_FILES_DIR);
    _cleanup_free_ char *conf = lbox_path_join(root, "etc/resolv.conf");
    if (lbox_mkdir_p(dir, 0755, err) < 0)
        return -1;
    if (unlink(conf) < 0 && errno != ENOENT)
        return lbox_err_errno(err, errno, "removing %s", conf);
    if (symlink("/" HOST_FILES_DIR "/resolv.conf", conf) < 0)
        return lbox_err_errno(err, errno, "linking %s", conf);
    return 0;
}

/* What update-alternatives would have made (maintainer scripts never run): cc and c++,
 * the names make's built-in rules and node-gyp's Makefiles call. */
static int tool_links(const char *root, struct lbox_error *err)
{
    static const char *const links[][2] = {{"gcc", "usr/bin/cc"}, {"g++", "usr/bin/c++"}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        _cleanup_free_ char *target = lbox_strdupf("%s/usr/bin/%s", root, links[i][0]);
        _cleanup_free_ char *link = lbox_path_join(root, links[i][1]);
        struct stat st;
        if (lstat(target, &st) < 0 || lstat(link, &st) == 0)
            continue;
        if (symlink(links[i][0], link) < 0)
            return lbox_err_errno(err, errno, "linking %s", link);
    }
    return 0;
}

static int assemble(struct lbox_fetcher *f, const struct lbox_npm_install_opts *o,
                    struct lbox_deb_source *src, char *const *pkgs, size_t npkgs,
                    const struct lbox_node_archive *a, const struct headers_pin *pin,
                    const char *dir, struct lbox_error *err)
{
    struct lbox_deb_set set = {0};
    int rc = -1;
    if (lbox_debian_resolve(f, src, (const char *const *)pkgs, npkgs, o->index_max_age_s, &set,
                            err) < 0 ||
        lbox_debian_install(f, src, &set, dir, err) < 0 || lbox_layout_base(dir, err) < 0 ||
        lbox_node_install(a, dir, true, err) < 0 ||
        install_headers(f, a, pin, o->npm_registry, dir, err) < 0 ||
        link_resolv_conf(dir, err) < 0 || tool_links(dir, err) < 0)
        goto out;
    /* As root the sandbox runs as nobody: everything must be readable by others. */
    if (chmod(dir, 0755) < 0) {
        lbox_err_errno(err, errno, "chmod %s", dir);
        goto out;
    }
    rc = 0;
out:
    lbox_deb_set_free(&set);
    return rc;
}

/* The folders an assembly fills before it renames them to their key. */
static bool is_assembly_temp(const char *name) { return !strncmp(name, "tmp-", 4); }

int lbox_buildenv_prepare(struct lbox_fetcher *f, const struct lbox_npm_install_opts *o,
                          char **root, struct lbox_error *err)
{
    *root = NULL;
    struct lbox_recipe r;
    const char *arch = o->arch ? o->arch : lbox_arch_host();
    if (lbox_recipe_load(o->runtime, arch, &r, err) < 0)
        return -1;
    int rc = -1;
    char **pkgs = NULL;
    size_t npkgs = 0, nbuild = 0;
    char **build = NULL;
    struct headers_pin pin = {0};
    struct lbox_node_archive a = {0};
    struct lbox_deb_source src = {
        .suite = r.debian_suite,
        .components = r.debian_components,
        .ncomponents = r.ndebian_components,
        .arch = (char *)lbox_arch_debian(r.arch),
    };
    char *release = NULL, *base = NULL, *dir = NULL, *tmp = NULL;
    int tmp_lock = -1;
    struct lbox_node_opts no = {.source = LBOX_NODE_AUTO};
    if (o->node)
        no = *o->node;
    no.with_npm = true;
    if (!no.npm_registry)
        no.npm_registry = o->npm_registry;

    if (load_build_packages(&r, &build, &nbuild, err) < 0 ||
        load_headers_pin(r.dir, &pin, err) < 0 ||
        lbox_debian_pick_mirror(o->debian_mirror, r.debian_suite, &src.mirror, err) < 0)
        goto out;
    {
        _cleanup_free_ char *url = lbox_strdupf("%s/dists/%s/Release", src.mirror, src.suite);
        if (lbox_fetch_unpinned(f, url, o->index_max_age_s, LBOX_DEBIAN_MIRROR_HINT, &release,
                                err) < 0)
            goto out;
    }
    char release_sha[65], key[65];
    if (lbox_sha256_file(release, release_sha, err) < 0 || lbox_node_fetch(f, &r, &no, &a, err) < 0)
        goto out;
    pkgs = lbox_xcalloc(r.npackages + nbuild, sizeof *pkgs);
    for (size_t i = 0; i < r.npackages; i++)
        pkgs[npkgs++] = r.packages[i];
    for (size_t i = 0; i < nbuild; i++)
        pkgs[npkgs++] = build[i];
    {
        struct lbox_hash *h = lbox_hash_new("sha256");
        hash_str(h, BUILDENV_VERSION);
        hash_str(h, r.runtime);
        hash_str(h, r.arch);
        hash_str(h, release_sha);
        for (size_t i = 0; i < npkgs; i++)
            hash_str(h, pkgs[i]);
        hash_str(h, a.digest);
        hash_str(h, r.node.npm_cli_integrity);
        hash_str(h, pin.integrity);
        lbox_hash_final_hex(h, key);
    }
    base = lbox_path_join(f->cache_dir, "buildenv");
    dir = lbox_path_join(base, key);
    /* An assembly that was killed left a tmp-* of 100-400 MB; a running one holds its own
     * locked (cache_temp.h), so only the leftovers go. */
    lbox_cache_sweep(base, is_assembly_temp);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        *root = dir;
        dir = NULL;
        rc = 0;
        goto out;
    }
    if (f->notice) {
        _cleanup_free_ char *msg = lbox_strdupf(
            "assembling the %s %s build environment (Debian build tools for the target, once; "
            "cached in %s)", r.runtime, r.arch, base);
        f->notice(f->notice_ctx, msg);
    }
    tmp = lbox_path_join(base, "tmp-XXXXXX");
    if (lbox_mkdir_p(base, 0755, err) < 0)
        goto out;
    if (lbox_cache_temp(tmp, true, &tmp_lock, err) < 0) {
        lbox_err_prefix(err, "cannot assemble the build environment (make %s writable, or set "
                        "XDG_CACHE_HOME to another folder)", base);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (assemble(f, o, &src, pkgs, npkgs, &a, &pin, tmp, err) < 0) {
        lbox_err_prefix(err, "assembling the %s %s build environment", r.runtime, r.arch);
        goto out;
    }
    /* Complete or absent: a concurrent build that won the rename has the same content. */
    if (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
        lbox_err_errno(err, errno, "cannot move the build environment to %s", dir);
        goto out;
    }
    *root = dir;
    dir = NULL;
    rc = 0;
out:
    if (tmp) {
        lbox_rm_rf(tmp, NULL);
        free(tmp);
    }
    if (tmp_lock >= 0)
        close(tmp_lock);
    free(pkgs);
    strv_free(build, nbuild);
    headers_pin_free(&pin);
    lbox_node_archive_free(&a);
    free(src.mirror);
    free(release);
    free(base);
    free(dir);
    lbox_recipe_free(&r);
    return rc;
}

/* ---- running npm ---- */

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

/* The sandbox's processes write as its host ids (a user of its own when lbox runs as
 * root): hand them the scratch copy. */
static int hand_over(const char *dir, const struct lbox_sandbox_ids *ids,
                     struct lbox_error *err)
{
    if (ids->uid == geteuid())
        return 0;
    chown_uid = ids->uid;
    chown_gid = ids->gid;
    if (nftw(dir, chown_one, 32, FTW_PHYS) < 0)
        return lbox_err_errno(err, errno, "cannot hand %s to the sandbox user", dir);
    return 0;
}

static bool has_file(const char *dir, const char *name)
{
    _cleanup_free_ char *p = lbox_path_join(dir, name);
    struct stat st;
    return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void env_add(char ***v, size_t *n, char *s)
{
    *v = lbox_xrealloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static char **npm_env(const char *registry, bool extra_ca)
{
    char **v = NULL;
    size_t n = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    env_add(&v, &n, lbox_xstrdup("PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin"));
    env_add(&v, &n, lbox_xstrdup("HOME=/tmp"));
    env_add(&v, &n, lbox_xstrdup("TMPDIR=/tmp"));
    env_add(&v, &n, lbox_xstrdup("LANG=C.UTF-8"));
    env_add(&v, &n, lbox_strdupf("npm_config_registry=%s/", registry));
    env_add(&v, &n, lbox_xstrdup("npm_config_cache=/tmp/.npm"));
    env_add(&v, &n, lbox_xstrdup("npm_config_nodedir=/var/lang"));
    env_add(&v, &n, lbox_xstrdup("npm_config_update_notifier=false"));
    env_add(&v, &n, lbox_xstrdup("npm_config_fund=false"));
    env_add(&v, &n, lbox_xstrdup("npm_config_audit=false"));
    env_add(&v, &n, lbox_xstrdup("npm_config_foreground_scripts=true"));
    /* Its log would be in the sandbox's /tmp, gone when npm's error names it. */
    env_add(&v, &n, lbox_xstrdup("npm_config_logs_max=0"));
    if (extra_ca)
        env_add(&v, &n, lbox_xstrdup("NODE_EXTRA_CA_CERTS=/" HOST_FILES_DIR "/extra-ca.pem"));
    /* node-gyp compiles with this many jobs (make -j). */
    env_add(&v, &n, lbox_strdupf("JOBS=%ld", cpus > 0 ? cpus : 1));
    static const char *const pass[] = {"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY",
                                       "HTTPS_PROXY", "NO_PROXY"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        const char *val = getenv(pass[i]);
        if (val && *val)
            env_add(&v, &n, lbox_strdupf("%s=%s", pass[i], val));
    }
    return v;
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* LBOX_NPM_TIMEOUT (seconds) when set, for a slow machine or a long compile under QEMU. */
static int npm_timeout(long *seconds, struct lbox_error *err)
{
    *seconds = LBOX_NPM_INSTALL_TIMEOUT_S;
    const char *v = getenv("LBOX_NPM_TIMEOUT");
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 1 || n > 86400)
        return lbox_err(err, LBOX_E_INVAL, "LBOX_NPM_TIMEOUT='%s': give seconds, 1 to 86400",
                        v);
    *seconds = n;
    return 0;
}

/* What a folder the sandbox writes takes on the host's disk now: allocated bytes and
 * inodes, added to *bytes and *inodes. npm renames and deletes as it goes, so what vanishes
 * mid-walk is skipped. The walk goes by openat, so no path length stops it (a walk by
 * whole paths skipped whatever an install script hid deeper than PATH_MAX); false when the
 * tree is deeper than any code may be (LBOX_CODE_MAX_DEPTH), which a build refuses anyway. */
static bool disk_usage_at(int dirfd, dev_t dev, unsigned depth, uint64_t *bytes,
                          uint64_t *inodes)
{
    if (depth > LBOX_CODE_MAX_DEPTH + 8)
        return false;
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return true;
    }
    bool ok = true;
    for (struct dirent *de; ok && (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        *bytes += (uint64_t)st.st_blocks * 512;
        *inodes += 1;
        if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                ok = disk_usage_at(sub, dev, depth + 1, bytes, inodes);
        }
    }
    closedir(d);
    return ok;
}

static bool disk_usage(const char *dir, uint64_t *bytes, uint64_t *inodes)
{
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return true;
    }
    *bytes += (uint64_t)st.st_blocks * 512;
    *inodes += 1;
    return disk_usage_at(fd, st.st_dev, 0, bytes, inodes);
}

static double since(const struct timespec *a)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - a->tv_sec) + (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

/* npm's output, which its scripts (the function's code) write: through a pipe that lbox
 * relays, not lbox's own stderr, which a script could otherwise read back, truncate or
 * write over (it may be a log file on the host), or grow without bound. Shown safely on a
 * terminal, and cut at a limit. */
#define NPM_OUTPUT_LIMIT (64u << 20)
struct relay {
    int rd;           /* the pipe's read end (non-blocking); -1: nothing to relay */
    int to;           /* where it goes; -1: dropped */
    bool terminal;
    size_t relayed;
    bool cut;         /* past the limit: the rest is read and dropped */
};

/* Relays what the pipe holds now. */
static void relay_output(struct relay *r)
{
    char buf[65536];
    ssize_t n;
    while (r->rd >= 0 && (n = read(r->rd, buf, sizeof buf)) > 0) {
        size_t room = NPM_OUTPUT_LIMIT - r->relayed;
        size_t k = (size_t)n < room ? (size_t)n : room;
        if (r->to >= 0 && k)
            lbox_write_shown(r->to, r->terminal, buf, k);
        r->relayed += k;
        if (k < (size_t)n && !r->cut) {
            r->cut = true;
            if (r->to >= 0)
                dprintf(r->to, "\nlbox: npm's output past %u MB is not shown\n",
                        NPM_OUTPUT_LIMIT >> 20);
        }
    }
}

/* Waits for npm, within limits: its scripts are the function's code. One that never ends
 * is stopped at the deadline; one that fills the folders it may write (binds of host
 * folders, so the host's disk: the code folder and the per-run folder) is stopped when
 * they pass what any package could need. They are measured at most every half second, and
 * at most a tenth of the time. */
static int wait_npm(struct lbox_sandbox *sb, const char *task, const char *host,
                    struct relay *out, long timeout_s, int *status, struct lbox_error *err)
{
    struct timespec start, measured = {0};
    clock_gettime(CLOCK_MONOTONIC, &start);
    double pause = 0.5;
    for (;;) {
        relay_output(out);
        int r = lbox_sandbox_poll_exit(sb, status, err);
        if (r != 0) {
            relay_output(out); /* what npm wrote last (a script left running may hold the
                                * pipe open: only what is there now) */
            return r < 0 ? -1 : 0;
        }
        if (since(&start) >= (double)timeout_s)
            return lbox_err(err, LBOX_E_LIMIT,
                            "still running after %ld s, so it was stopped (an install script "
                            "that never ends? LBOX_NPM_TIMEOUT sets the limit in seconds)",
                            timeout_s);
        if (since(&measured) >= pause) {
            struct timespec walk;
            clock_gettime(CLOCK_MONOTONIC, &walk);
            uint64_t bytes = 0, inodes = 0;
            struct stat ts = {0}, hs;
            /* Files deleted but kept open fill the disk too, where no walk sees them. */
            if (stat(task, &ts) == 0)
                bytes += lbox_sandbox_unlinked_bytes(sb, ts.st_dev);
            if (stat(host, &hs) == 0 && hs.st_dev != ts.st_dev)
                bytes += lbox_sandbox_unlinked_bytes(sb, hs.st_dev);
            if (!disk_usage(task, &bytes, &inodes) || !disk_usage(host, &bytes, &inodes))
                return lbox_err(err, LBOX_E_LIMIT,
                                "the code folder grew deeper than %d folders while it ran, "
                                "past what any package needs, so it was stopped",
                                LBOX_CODE_MAX_DEPTH);
            if (bytes > (uint64_t)LBOX_NPM_INSTALL_DISK_MB << 20 ||
                inodes > LBOX_CODE_MAX_FILES + LBOX_CODE_MAX_DIRS)
                return lbox_err(err, LBOX_E_LIMIT,
                                "what it wrote to the host's disk (the code folder, "
                                "/run/lbox, files it deleted but keeps open) grew to %llu MB "
                                "in %llu files and folders while it ran, past what any "
                                "package needs, so it was stopped "
                                "(lbox stops npm at %d MB or %d files and folders; Lambda "
                                "takes 250 MB)",
                                (unsigned long long)(bytes >> 20), (unsigned long long)inodes,
                                LBOX_NPM_INSTALL_DISK_MB,
                                LBOX_CODE_MAX_FILES + LBOX_CODE_MAX_DIRS);
            double took = since(&walk);
            pause = took * 10 > 0.5 ? took * 10 : 0.5;
            clock_gettime(CLOCK_MONOTONIC, &measured);
        }
        struct pollfd p[2] = {{.fd = lbox_sandbox_exit_fd(sb), .events = POLLIN},
                              {.fd = out->rd, .events = POLLIN}};
        if (poll(p, 2, 250) < 0 && errno != EINTR)
            return lbox_err_errno(err, errno, "waiting for npm");
    }
}

/* With the host's network, the host's resolv.conf. Through slirp4netns, its DNS forwarder
 * (which asks the host's resolvers, a loopback one such as systemd-resolved's included),
 * with the host's search domains and options, so that a short registry name resolves as
 * on the host. */
static int write_resolv_conf(const char *host_dir, enum lbox_npm_net net, struct lbox_error *err)
{
    _cleanup_free_ char *dst = lbox_path_join(host_dir, "resolv.conf");
    char *data = NULL;
    size_t len = 0;
    struct lbox_error ignore = {0};
    /* No resolv.conf on the host: the registry must then be an address or file:// URL. */
    if (lbox_read_file("/etc/resolv.conf", 1 << 20, &data, &len, &ignore) < 0) {
        data = lbox_xstrdup("");
        len = 0;
    }
    if (net == LBOX_NPM_NET_HOST) {
        int rc = lbox_write_file_atomic(dst, data, len, 0644, err);
        free(data);
        return rc;
    }
    size_t cap = len + 64, used = 0;
    char *out = lbox_xmalloc(cap);
    used += (size_t)snprintf(out, cap, "nameserver 10.0.2.3\n");
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        static const char *const keep[] = {"search", "domain", "options"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            size_t k = strlen(keep[i]);
            if (!strncmp(line, keep[i], k) && (line[k] == ' ' || line[k] == '\t')) {
                used += (size_t)snprintf(out + used, cap - used, "%s\n", line);
                break;
            }
        }
    }
    int rc = lbox_write_file_atomic(dst, out, used, 0644, err);
    free(out);
    free(data);
    return rc;
}

/* The CA certificates the user's npm trusts beyond node's own (a company's TLS proxy, a
 * private registry): $NODE_EXTRA_CA_CERTS, else npm's cafile setting. NULL when none.
 * npm is asked from / so that the function's own .npmrc (the current folder is often the
 * function's) cannot choose a host file; the user's and the global npmrc still count. */
static char *host_extra_ca(void)
{
    static const char *const envs[] = {"NODE_EXTRA_CA_CERTS", "npm_config_cafile",
                                       "NPM_CONFIG_CAFILE"};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i]);
        if (v && *v && access(v, R_OK) == 0)
            return lbox_xstrdup(v);
    }
    FILE *p = popen("cd / && npm config get cafile 2>/dev/null", "r");
    char line[4096] = "";
    if (p) {
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        pclose(p);
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] == '/' && access(line, R_OK) == 0 ? lbox_xstrdup(line) : NULL;
}

/* Puts the certificates of the host's extra CA file, and nothing else of it, in the
 * per-run folder the sandbox sees at /run/lbox: npm's scripts (the function's code) read
 * that folder. *copied is false when the file holds no certificate. */
static int copy_extra_ca(struct lbox_fetcher *f, const char *src, const char *host_dir,
                         bool *copied, struct lbox_error *err)
{
    _cleanup_free_ char *dst = lbox_path_join(host_dir, "extra-ca.pem");
    unsigned n = 0;
    if (lbox_ca_copy_certs(src, dst, &n, err) < 0)
        return lbox_err_prefix(err, "the extra CA certificates for npm");
    *copied = n > 0;
    if (!n && f->notice) {
        _cleanup_free_ char *msg = lbox_strdupf(
            "%s (NODE_EXTRA_CA_CERTS or npm's cafile) holds no PEM certificate; npm runs "
            "without extra CA certificates", src);
        f->notice(f->notice_ctx, msg);
    }
    return 0;
}

int lbox_npm_install(struct lbox_fetcher *f, const struct lbox_npm_install_opts *o,
                     char **out_dir, struct lbox_error *err)
{
    *out_dir = NULL;
    const char *arch = lbox_arch_canonical(o->arch ? o->arch : lbox_arch_host());
    if (!arch)
        return lbox_err(err, LBOX_E_INVAL, "unknown architecture '%s': use x86_64 or arm64",
                        o->arch);
    _cleanup_free_ char *scratch = lbox_path_join(o->work_dir, "npm-install");
    _cleanup_free_ char *task = lbox_path_join(scratch, "task");
    _cleanup_free_ char *host = lbox_path_join(scratch, "host");
    if (lbox_mkdir_p(task, 0755, err) < 0 || lbox_mkdir_p(host, 0755, err) < 0)
        return -1;
    /* The copy follows the same safety rules and limits as any --code, on top of the
     * layers: a small zip of a 1 GB file stops here instead of filling the disk. A copy of
     * the budget, since the build counts the code again with what npm adds (Lambda counts
     * the final unzipped size). */
    struct lbox_code_budget budget = LBOX_CODE_BUDGET_INIT;
    if (o->budget)
        budget = *o->budget;
    if (lbox_code_install(o->code, task, "/var/task", &budget, err) < 0)
        return -1;
    if (!has_file(task, "package.json"))
        return lbox_err(err, LBOX_E_INVAL,
                        "--npm-install: %s has no package.json at its top level, so there is "
                        "nothing for npm to install", o->code);
    long timeout_s;
    if (npm_timeout(&timeout_s, err) < 0)
        return -1;
    const char *verb = has_file(task, "package-lock.json") || has_file(task, "npm-shrinkwrap.json")
                           ? "ci" : "install";

    _cleanup_free_ char *registry = NULL;
    _cleanup_free_ char *root = NULL;
    _cleanup_free_ char *why_host = NULL;
    enum lbox_npm_net net;
    if (lbox_npm_registry(o->npm_registry, &registry, err) < 0 ||
        lbox_npm_network(registry, &net, &why_host, err) < 0 ||
        lbox_buildenv_prepare(f, o, &root, err) < 0 || write_resolv_conf(host, net, err) < 0)
        return -1;
    if (why_host && o->log_fd >= 0)
        dprintf(o->log_fd, "lbox: --npm-install: %s, so npm runs in this host's network, "
                "where its install scripts can reach this host's local services too\n",
                why_host);
    _cleanup_free_ char *ca = host_extra_ca();
    bool extra_ca = false;
    struct lbox_sandbox_ids ids;
    lbox_sandbox_ids_reserve(&ids);
    if ((ca && copy_extra_ca(f, ca, host, &extra_ca, err) < 0) ||
        hand_over(scratch, &ids, err) < 0) {
        lbox_sandbox_ids_release(&ids);
        return -1;
    }

    const struct lbox_sandbox_bind binds[] = {
        {.source = task, .target = "/var/task"},
        {.source = host, .target = "/" HOST_FILES_DIR},
    };
    struct lbox_sandbox_config cfg = {
        .rootfs = root,
        .memory_mb = LBOX_NPM_INSTALL_MEMORY_MB,
        .tmp_size_mb = 4096,
        .host_network = net == LBOX_NPM_NET_HOST,
        .nat_network = net == LBOX_NPM_NET_NAT,
        .arch = arch,
        .qemu_path = lbox_binfmt_default_qemu(arch),
        .hostname = "lbox-build",
        .binds = binds,
        .nbinds = 2,
        .ids = &ids,
    };
    struct lbox_sandbox *sb = NULL;
    if (lbox_sandbox_create(&cfg, &sb, NULL, err) < 0) {
        lbox_sandbox_ids_release(&ids);
        if (net == LBOX_NPM_NET_NAT) { /* slirp4netns failed: say how to go on without it */
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, " (LBOX_NPM_NETWORK=host runs npm in "
                     "this host's network instead)");
        }
        return lbox_err_prefix(err, "--npm-install");
    }

    const char *argv[] = {"/var/lang/bin/node", "/var/lang/lib/node_modules/npm/bin/npm-cli.js",
                          verb, NULL};
    char **envp = npm_env(registry, extra_ca);
    int pipe_fds[2] = {-1, -1};
    struct relay npm_out = {.rd = -1, .to = o->log_fd,
                            .terminal = o->log_fd >= 0 && isatty(o->log_fd) == 1};
    int rc = -1, status = 0;
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
        lbox_err_errno(err, errno, "--npm-install: a pipe for npm's output");
        goto out;
    }
    npm_out.rd = pipe_fds[0];
    fcntl(npm_out.rd, F_SETFL, O_NONBLOCK);
    int exec_rc = lbox_sandbox_exec(sb, argv, (const char *const *)envp, "/var/task",
                                    pipe_fds[1], pipe_fds[1], NULL, err);
    close(pipe_fds[1]);
    if (exec_rc < 0 || wait_npm(sb, task, host, &npm_out, timeout_s, &status, err) < 0) {
        lbox_err_prefix(err, "--npm-install: npm %s", verb);
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status))
            lbox_err(err, LBOX_E_INVAL,
                     "--npm-install: npm %s failed for %s %s (exit status %d); its output is "
                     "above", verb, o->runtime, arch, WEXITSTATUS(status));
        else
            lbox_err(err, LBOX_E_INVAL, "--npm-install: npm %s for %s %s was killed by signal %d%s",
                     verb, o->runtime, arch, WTERMSIG(status),
                     WTERMSIG(status) == SIGKILL ? " (past its memory limit of "
                                                   STR(LBOX_NPM_INSTALL_MEMORY_MB) " MB?)"
                                                 : "");
        goto out;
    }
    *out_dir = task;
    task = NULL;
    rc = 0;
out:
    lbox_sandbox_destroy(sb);
    lbox_sandbox_ids_release(&ids);
    if (npm_out.rd >= 0)
        close(npm_out.rd);
    for (char **e = envp; e && *e; e++)
        free(*e);
    free(envp);
    return rc;
}
