#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

static int write_in(const char *root, const char *rel, const char *text, mode_t mode,
                    struct lbox_error *err)
{
    _cleanup_free_ char *path = lbox_path_join(root, rel);
    _cleanup_free_ char *dir = lbox_xstrdup(path);
    *strrchr(dir, '/') = '\0';
    if (lbox_mkdir_p(dir, 0755, err) < 0)
        return -1;
    if (lbox_write_file_atomic(path, text, strlen(text), mode, err) < 0)
        return -1;
    /* The umask must not decide an image's bytes. */
    return chmod(path, mode) < 0 ? lbox_err_errno(err, errno, "chmod %s", path) : 0;
}

static int symlink_in(const char *root, const char *rel, const char *target, struct lbox_error *err)
{
    _cleanup_free_ char *path = lbox_path_join(root, rel);
    unlink(path);
    if (symlink(target, path) < 0)
        return lbox_err_errno(err, errno, "cannot create symlink %s", path);
    return 0;
}

/* What update-ca-certificates would do: one PEM bundle of every certificate Debian ships,
 * in a fixed (sorted) order so the image stays reproducible. */
static int ca_bundle(const char *root, struct lbox_error *err)
{
    _cleanup_free_ char *dir = lbox_path_join(root, "usr/share/ca-certificates/mozilla");
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t n = 0;
    char **names = dfd >= 0 ? lbox_dir_names_at(dfd, &n) : NULL;
    if (!names)
        return lbox_err_errno(err, errno,
                              "cannot read %s (is ca-certificates in the recipe's packages?)", dir);
    char *bundle = NULL;
    size_t blen = 0;
    int rc = 0;
    size_t certs = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t l = strlen(names[i]);
        if (l <= 4 || strcmp(names[i] + l - 4, ".crt") != 0)
            continue;
        certs++;
        _cleanup_free_ char *p = lbox_path_join(dir, names[i]);
        char *pem = NULL;
        size_t len = 0;
        rc = lbox_read_file(p, 1 << 20, &pem, &len, err);
        if (rc == 0) {
            bundle = lbox_xrealloc(bundle, blen + len + 2);
            memcpy(bundle + blen, pem, len);
            blen += len;
            if (len && pem[len - 1] != '\n')
                bundle[blen++] = '\n';
            bundle[blen] = '\0';
        }
        free(pem);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && certs == 0)
        rc = lbox_err(err, LBOX_E_NOTFOUND, "no certificates under %s", dir);
    static const char *const paths[] = {"etc/ssl/certs/ca-certificates.crt",
                                        "etc/pki/tls/certs/ca-bundle.crt"};
    for (size_t i = 0; i < 2 && rc == 0; i++)
        rc = write_in(root, paths[i], bundle, 0644, err);
    free(bundle);
    return rc;
}

/* Lambda's entrypoint contract (the handler as the only argument, exported as _HANDLER,
 * exit 142 otherwise). Locally there is no bundled emulator: lbox is the emulator. */
static const char entrypoint[] =
    "#!/bin/sh\n"
    "# Entrypoint of lbox images (same contract as AWS's Lambda base images).\n"
    "if [ $# -ne 1 ]; then\n"
    "  echo \"entrypoint requires the handler name to be the first argument\" >&2\n"
    "  exit 142\n"
    "fi\n"
    "export _HANDLER=\"$1\"\n"
    "if [ -z \"${AWS_LAMBDA_RUNTIME_API}\" ]; then\n"
    "  echo \"AWS_LAMBDA_RUNTIME_API is not set: run this image with 'lbox invoke',\" >&2\n"
    "  echo \"or deploy it to AWS Lambda.\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "exec /var/runtime/bootstrap\n";

int lbox_layout_base(const char *root, struct lbox_error *err)
{
    static const char *const dirs[] = {"var/task", "opt", "tmp", "var/lang/bin", "var/lang/lib",
                                       "var/runtime", "etc/pki/tls/certs", "root", "home",
                                       "var/lib/lbox", "proc", "dev", "sys"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        _cleanup_free_ char *p = lbox_path_join(root, dirs[i]);
        if (lbox_mkdir_p(p, 0755, err) < 0)
            return -1;
    }
    _cleanup_free_ char *tmp = lbox_path_join(root, "tmp");
    _cleanup_free_ char *home = lbox_path_join(root, "root");
    chmod(tmp, 01777);
    chmod(home, 0550);

    if (write_in(root, "etc/passwd",
                 "root:x:0:0:root:/root:/bin/bash\n"
                 "sbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n", 0644, err) < 0 ||
        write_in(root, "etc/group",
                 "root:x:0:\n"
                 "sbx_user1051:x:990:\n"
                 "nogroup:x:65534:\n", 0644, err) < 0 ||
        /* sandbox.localdomain: where extensions listen for the Telemetry API, as on Lambda. */
        write_in(root, "etc/hosts",
                 "127.0.0.1\tlocalhost sandbox.localdomain sandbox\n::1\tlocalhost\n", 0644,
                 err) < 0 ||
        write_in(root, "etc/nsswitch.conf",
                 "passwd: files\ngroup: files\nhosts: files dns\n", 0644, err) < 0 ||
        write_in(root, "lambda-entrypoint.sh", entrypoint, 0755, err) < 0)
        return -1;
    /* Amazon Linux 2's /bin/sh is bash; Lambda's bootstrap scripts may rely on it. */
    if (symlink_in(root, "usr/bin/sh", "bash", err) < 0 ||
        symlink_in(root, "etc/localtime", "/usr/share/zoneinfo/UTC", err) < 0)
        return -1;
    return ca_bundle(root, err);
}

int lbox_copy_tree(const char *src, const char *dst, struct lbox_error *err)
{
    struct stat st;
    if (lstat(src, &st) < 0)
        return lbox_err_errno(err, errno, "cannot read %s", src);
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n < 0)
            return lbox_err_errno(err, errno, "cannot read link %s", src);
        target[n] = '\0';
        unlink(dst);
        return symlink(target, dst) < 0 ? lbox_err_errno(err, errno, "cannot create %s", dst) : 0;
    }
    if (S_ISREG(st.st_mode))
        return lbox_copy_file(src, dst, err);
    if (!S_ISDIR(st.st_mode))
        return lbox_err(err, LBOX_E_INVAL, "%s is not a file, directory or symlink", src);
    if (lbox_mkdir_p(dst, 0755, err) < 0)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return lbox_err_errno(err, errno, "cannot read %s", src);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *s = lbox_path_join(src, de->d_name);
        _cleanup_free_ char *t = lbox_path_join(dst, de->d_name);
        rc = lbox_copy_tree(s, t, err);
    }
    closedir(d);
    chmod(dst, st.st_mode & 07777);
    return rc;
}

int lbox_layout_runtime(const char *root, const char *client_dir, const char *runtime,
                        struct lbox_error *err)
{
    _cleanup_free_ char *dst = lbox_path_join(root, "var/runtime");
    struct stat st;
    if (stat(client_dir, &st) == 0 && lbox_copy_tree(client_dir, dst, err) < 0)
        return lbox_err_prefix(err, "installing the runtime client");
    /* index.js is nodejs14.x's entry, as on Lambda. Lambda's later runtimes start
     * index.mjs, which Node's CommonJS resolution never finds: there a handler whose module
     * 'index' is missing from the code fails to import (Runtime.ImportModuleError), where an
     * index.js in /var/runtime (on NODE_PATH) would be found instead. */
    if (strcmp(runtime, "nodejs14.x") != 0) {
        _cleanup_free_ char *entry = lbox_path_join(dst, "index.js");
        if (unlink(entry) < 0 && errno != ENOENT)
            return lbox_err_errno(err, errno, "cannot remove %s", entry);
    }
    return write_in(root, "var/runtime/runtime-id", runtime, 0644, err);
}
