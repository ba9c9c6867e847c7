#include "env_vars.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fsutil.h"
#include "ids.h"

/* Names only the platform sets (Lambda refuses them in a function's configuration), and
 * where lbox takes each one's value from instead. */
#define FROM_CALLER "it comes from your own AWS_* environment"
#define FROM_PLATFORM "the platform sets it"
static const struct { const char *name, *instead; } reserved[] = {
    {"_HANDLER", "set the handler with `lbox build --handler`"},
    {"_X_AMZN_TRACE_ID", "each invoke has its own"},
    {"AWS_REGION", FROM_CALLER},
    {"AWS_DEFAULT_REGION", FROM_CALLER},
    {"AWS_EXECUTION_ENV", "the image's runtime sets it"},
    {"AWS_LAMBDA_FUNCTION_NAME", "use --function-name"},
    {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "use --memory"},
    {"AWS_LAMBDA_FUNCTION_VERSION", FROM_PLATFORM},
    {"AWS_LAMBDA_INITIALIZATION_TYPE", "--prewarm makes it provisioned-concurrency"},
    {"AWS_LAMBDA_LOG_GROUP_NAME", FROM_PLATFORM},
    {"AWS_LAMBDA_LOG_STREAM_NAME", FROM_PLATFORM},
    {"AWS_ACCESS_KEY", FROM_CALLER},
    {"AWS_ACCESS_KEY_ID", FROM_CALLER},
    {"AWS_SECRET_ACCESS_KEY", FROM_CALLER},
    {"AWS_SESSION_TOKEN", FROM_CALLER},
    {"AWS_LAMBDA_RUNTIME_API", FROM_PLATFORM},
    {"LAMBDA_TASK_ROOT", FROM_PLATFORM},
    {"LAMBDA_RUNTIME_DIR", FROM_PLATFORM},
};

static bool is_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(reserved[i].name, name))
            return true;
    return false;
}

/* The first n bytes of s, as a string (out of memory ends lbox, as lbox_xmalloc does). */
static char *xstrndup(const char *s, size_t n)
{
    char *d = lbox_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t find(const struct lbox_strv *l, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < l->n; i++)
        if (name_len(l->v[i]) == n && !strncmp(l->v[i], name, n))
            return (ssize_t)i;
    return -1;
}

void lbox_strv_set(struct lbox_strv *l, const char *name, const char *value)
{
    char *kv = lbox_strdupf("%s=%s", name, value);
    ssize_t i = find(l, name);
    if (i >= 0) {
        free(l->v[i]);
        l->v[i] = kv;
        return;
    }
    l->v = lbox_xrealloc(l->v, (l->n + 2) * sizeof *l->v);
    l->v[l->n++] = kv;
    l->v[l->n] = NULL;
}

const char *lbox_strv_get(const struct lbox_strv *l, const char *name)
{
    ssize_t i = find(l, name);
    return i >= 0 ? l->v[i] + strlen(name) + 1 : NULL;
}

void lbox_strv_free(struct lbox_strv *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool ascii_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_alnum(char c)
{
    return ascii_alpha(c) || (c >= '0' && c <= '9');
}

int lbox_env_check_user_name(const char *name, struct lbox_error *err)
{
    size_t n = strlen(name);
    bool ok = n >= 2 && ascii_alpha(name[0]);
    for (size_t i = 1; ok && i < n; i++)
        ok = ascii_alnum(name[i]) || name[i] == '_';
    if (!ok)
        return lbox_err(err, LBOX_E_INVAL,
                        "environment variable name '%s' is not valid: Lambda accepts names of "
                        "two or more letters, digits and '_', starting with a letter",
                        name);
    return 0;
}

int lbox_env_check_user_var(const char *name, struct lbox_error *err)
{
    /* Before the name's form: _HANDLER is not a name a user may write, but it is reserved. */
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!strcmp(reserved[i].name, name))
            return lbox_err(err, LBOX_E_INVAL,
                            "environment variable %s is reserved by Lambda and cannot be set "
                            "by the function's configuration (%s)",
                            name, reserved[i].instead);
    return lbox_env_check_user_name(name, err);
}

int lbox_env_parse_user_arg(const char *arg, char **name, const char **value,
                            struct lbox_error *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return lbox_err(err, LBOX_E_INVAL, "--env '%s': expected NAME=value", arg);
    char *n = xstrndup(arg, (size_t)(eq - arg));
    /* A reserved name is said as such by lbox_env_check_user_var, whatever its form. */
    if (!is_reserved(n) && lbox_env_check_user_name(n, err) < 0) {
        free(n);
        return lbox_err_prefix(err, "--env '%s'", arg);
    }
    *name = n;
    *value = eq + 1;
    return 0;
}

int lbox_env_add_user_arg(struct lbox_strv *user, const char *arg, struct lbox_error *err)
{
    char *name = NULL;        /* set when the parse succeeds; GCC -O3 cannot see that */
    const char *value = NULL;
    if (lbox_env_parse_user_arg(arg, &name, &value, err) < 0)
        return -1;
    int r = lbox_env_check_user_var(name, err);
    if (r == 0)
        lbox_strv_set(user, name, value);
    else
        lbox_err_prefix(err, "--env '%s'", arg);
    free(name);
    return r;
}

int lbox_env_check_user_size(const struct lbox_strv *user, struct lbox_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < user->n; i++)
        total += strlen(user->v[i]) - 1; /* name and value, not the '=' */
    if (total > 4096)
        return lbox_err(err, LBOX_E_LIMIT,
                        "the function's environment variables take %zu bytes; Lambda allows "
                        "4 KB (4096 bytes) in total",
                        total);
    return 0;
}

int lbox_env_check_function_name(const char *name, struct lbox_error *err)
{
    if (!name)
        name = "";
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = ascii_alnum(name[i]) || name[i] == '-' || name[i] == '_';
    if (!ok)
        return lbox_err(err, LBOX_E_INVAL,
                        "function name '%s' is not valid: Lambda function names are 1 to 64 "
                        "letters, digits, '-' and '_'",
                        name);
    return 0;
}

static const char *caller_get(const char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (!strncmp(*env, name, n) && (*env)[n] == '=' && (*env)[n + 1])
            return *env + n + 1;
    return NULL;
}

const char *lbox_env_region(const char *const *caller_env)
{
    const char *r = caller_get(caller_env, "AWS_REGION");
    if (!r)
        r = caller_get(caller_env, "AWS_DEFAULT_REGION");
    return r ? r : "us-east-1";
}

char *lbox_env_runtime_arn(const char *region, const char *build)
{
    return build ? lbox_strdupf("arn:aws:lambda:%s::runtime:%s", region, build) : NULL;
}

/* A region's name as AWS writes them (us-east-1, us-gov-west-1, cn-north-1): it goes into
 * the function's ARN and environment, where anything else would break them. */
static int check_region(const char *region, struct lbox_error *err)
{
    size_t n = strlen(region);
    bool ok = n >= 2 && n <= 32 && region[0] >= 'a' && region[0] <= 'z';
    for (size_t i = 0; ok && i < n; i++)
        ok = (region[i] >= 'a' && region[i] <= 'z') || (region[i] >= '0' && region[i] <= '9') ||
             region[i] == '-';
    if (!ok)
        return lbox_err(err, LBOX_E_INVAL,
                        "the region '%.64s%s' (AWS_REGION or AWS_DEFAULT_REGION in your "
                        "environment) is not a region name such as us-east-1: fix or unset it",
                        region, n > 64 ? "..." : "");
    return 0;
}

int lbox_env_build(const struct lbox_env_settings *s, struct lbox_strv *out,
                   struct lbox_error *err)
{
    memset(out, 0, sizeof *out);
    /* The name becomes AWS_LAMBDA_FUNCTION_NAME and part of the log group's: only one Lambda
     * would accept may (a '/' would change the log group's path). */
    if (lbox_env_check_function_name(s->function_name, err) < 0 ||
        check_region(lbox_env_region(s->caller_env), err) < 0)
        return -1;
    /* Lowest precedence: the image's Env (PATH, LANG, TZ, LD_LIBRARY_PATH, ...). */
    for (const char *const *e = s->image_env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        char *name = xstrndup(*e, (size_t)(eq - *e));
        lbox_strv_set(out, name, eq + 1);
        free(name);
    }
    if (!lbox_strv_get(out, "PATH"))
        lbox_strv_set(out, "PATH", "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    if (!lbox_strv_get(out, "LANG"))
        lbox_strv_set(out, "LANG", "en_US.UTF-8");

    /* The user's variables (already validated: no reserved names). */
    for (size_t i = 0; s->user && i < s->user->n; i++) {
        const char *kv = s->user->v[i];
        size_t nl = name_len(kv);
        char *name = xstrndup(kv, nl);
        if (lbox_env_check_user_var(name, err) < 0) {
            free(name);
            lbox_strv_free(out);
            return -1;
        }
        lbox_strv_set(out, name, kv[nl] ? kv + nl + 1 : "");
        free(name);
    }

    /* Credentials: the caller's, else placeholders so SDKs fail at the call, not at load. */
    const char *key = caller_get(s->caller_env, "AWS_ACCESS_KEY_ID");
    const char *secret = caller_get(s->caller_env, "AWS_SECRET_ACCESS_KEY");
    const char *token = caller_get(s->caller_env, "AWS_SESSION_TOKEN");
    if (key && secret) {
        lbox_strv_set(out, "AWS_ACCESS_KEY_ID", key);
        lbox_strv_set(out, "AWS_ACCESS_KEY", key);
        lbox_strv_set(out, "AWS_SECRET_ACCESS_KEY", secret);
        if (token)
            lbox_strv_set(out, "AWS_SESSION_TOKEN", token);
    } else {
        lbox_strv_set(out, "AWS_ACCESS_KEY_ID", "LBOXLOCALPLACEHOLDER");
        lbox_strv_set(out, "AWS_ACCESS_KEY", "LBOXLOCALPLACEHOLDER");
        lbox_strv_set(out, "AWS_SECRET_ACCESS_KEY", "lbox-local-placeholder-secret");
        lbox_strv_set(out, "AWS_SESSION_TOKEN", "lbox-local-placeholder-token");
    }

    /* Highest precedence: the platform's reserved names. */
    const char *region = lbox_env_region(s->caller_env);
    char mem[16], stream[96], hex[33], day[16];
    snprintf(mem, sizeof mem, "%u", s->memory_mb);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    lbox_random_hex(hex, 16);
    const char *version = s->function_version ? s->function_version : "$LATEST";
    snprintf(stream, sizeof stream, "%s/[%s]%s", day, version, hex);
    char *group = lbox_strdupf("/aws/lambda/%s", s->function_name);

    lbox_strv_set(out, "AWS_REGION", region);
    lbox_strv_set(out, "AWS_DEFAULT_REGION", region);
    lbox_strv_set(out, "AWS_LAMBDA_FUNCTION_NAME", s->function_name);
    lbox_strv_set(out, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mem);
    lbox_strv_set(out, "AWS_LAMBDA_FUNCTION_VERSION", version);
    lbox_strv_set(out, "AWS_LAMBDA_INITIALIZATION_TYPE",
                  s->initialization_type ? s->initialization_type : "on-demand");
    lbox_strv_set(out, "AWS_LAMBDA_LOG_GROUP_NAME", group);
    lbox_strv_set(out, "AWS_LAMBDA_LOG_STREAM_NAME", stream);
    lbox_strv_set(out, "AWS_LAMBDA_RUNTIME_API",
                  s->runtime_api ? s->runtime_api : "127.0.0.1:9001");
    lbox_strv_set(out, "LAMBDA_TASK_ROOT", "/var/task");
    lbox_strv_set(out, "LAMBDA_RUNTIME_DIR", "/var/runtime");
    lbox_strv_set(out, "_HANDLER", s->handler ? s->handler : "index.handler");
    if (!lbox_strv_get(out, "TZ"))
        lbox_strv_set(out, "TZ", ":UTC");
    if (!lbox_strv_get(out, "AWS_XRAY_CONTEXT_MISSING"))
        lbox_strv_set(out, "AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR");
    if (!lbox_strv_get(out, "AWS_XRAY_DAEMON_ADDRESS"))
        lbox_strv_set(out, "AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000");
    lbox_strv_set(out, "_AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129");
    lbox_strv_set(out, "_AWS_XRAY_DAEMON_PORT", "2000");
    free(group);
    return 0;
}

void lbox_env_for_extensions(const struct lbox_strv *runtime_env, struct lbox_strv *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < runtime_env->n; i++) {
        const char *kv = runtime_env->v[i];
        if (kv[0] == '_' || !strncmp(kv, "AWS_XRAY_CONTEXT_MISSING=", 25))
            continue;
        size_t nl = name_len(kv);
        char *name = xstrndup(kv, nl);
        lbox_strv_set(out, name, kv + nl + 1);
        free(name);
    }
}
