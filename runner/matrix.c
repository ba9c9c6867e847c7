#include "matrix.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/cache_temp.h"
#include "builder/image.h"
#include "builder/recipe.h"
#include "builder/store.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "env_vars.h"
#include "environment.h"
#include "sandbox/sandbox.h"

#define LOG_TAIL_MAX 2048

extern char **environ;

const char *lbox_matrix_status_name(enum lbox_matrix_status s)
{
    switch (s) {
    case LBOX_MATRIX_OK: return "ok";
    case LBOX_MATRIX_FUNCTION_ERROR: return "error";
    case LBOX_MATRIX_TIMEOUT: return "timeout";
    case LBOX_MATRIX_BUILD_FAILED: return "build failed";
    case LBOX_MATRIX_RUN_FAILED: return "run failed";
    }
    return "?";
}

/* ---- one run, inside a worker process ---- */

struct log_tail {
    char buf[LOG_TAIL_MAX];
    size_t len;
};

static void keep_tail(void *ctx, const char *data, size_t len)
{
    struct log_tail *t = ctx;
    if (len >= LOG_TAIL_MAX) {
        memcpy(t->buf, data + len - LOG_TAIL_MAX, LOG_TAIL_MAX);
        t->len = LOG_TAIL_MAX;
        return;
    }
    if (t->len + len > LOG_TAIL_MAX) {
        size_t drop = t->len + len - LOG_TAIL_MAX;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, data, len);
    t->len += len;
}

/* A streamed response, gathered whole: the runner stops it at Lambda's 20 MiB, where a
 * buffered one would meet the runner's own smaller budget for request bodies. */
struct gathered {
    char *data;
    size_t len, cap;
};

static void gather(void *ctx, const void *data, size_t len)
{
    struct gathered *g = ctx;
    if (g->len + len + 1 > g->cap) {
        g->cap = g->cap ? g->cap : 64 << 10;
        while (g->cap < g->len + len + 1)
            g->cap *= 2;
        g->data = lbox_xrealloc(g->data, g->cap);
    }
    memcpy(g->data + g->len, data, len);
    g->len += len;
    g->data[g->len] = '\0';
}

/* Fills the result fields of c; returns -1 with err for a run failure. */
static int run_cell(const struct lbox_matrix_opts *o, struct lbox_matrix_cell *c,
                    struct log_tail *tail, struct lbox_error *err)
{
    struct lbox_store *store = NULL;
    struct lbox_env *env = NULL;
    struct lbox_image_facts facts = {0};
    struct lbox_strv user = {0}, envv = {0};
    char *rootfs = NULL, *arn = NULL, *fname = NULL, *runtime_arn = NULL;
    struct gathered streamed = {0};
    int rc = -1;

    char digest[72];
    if (lbox_store_open(o->build ? o->build->store_dir : NULL, &store, err) < 0 ||
        lbox_store_resolve(store, c->digest, digest, err) < 0 ||
        lbox_image_facts_read(store, digest, &facts, err) < 0 ||
        lbox_store_rootfs(store, digest, &rootfs, err) < 0)
        goto out;
    lbox_store_release(store);
    fname = lbox_strdupf("matrix-%s-%s", c->runtime, c->arch);
    for (char *p = fname; *p; p++)
        if (*p == '.')
            *p = '-';
    const char *region = lbox_env_region((const char *const *)environ);
    arn = lbox_strdupf("arn:aws:lambda:%s:123456789012:function:%s", region, fname);
    runtime_arn = lbox_env_runtime_arn(region, facts.runtime_build);
    struct lbox_env_settings es = {
        .function_name = fname, .function_version = "$LATEST", .handler = facts.handler,
        .memory_mb = o->memory_mb, .image_env = (const char *const *)facts.env, .user = &user,
        .caller_env = (const char *const *)environ, .runtime_api = "127.0.0.1:9001",
        .initialization_type = "on-demand",
    };
    if (lbox_env_build(&es, &envv, err) < 0)
        goto out;
    struct lbox_env_config ec = {
        .rootfs = rootfs, .arch = c->arch, .qemu_path = lbox_binfmt_default_qemu(c->arch),
        .function_name = fname, .function_version = "$LATEST", .function_arn = arn,
        .handler = facts.handler, .runtime_version = facts.runtime_version,
        .runtime_version_arn = runtime_arn, .timeout_s = o->timeout_s, .memory_mb = o->memory_mb,
        .tmp_size_mb = 512, .envp = envv.v, .log = keep_tail, .log_ctx = tail,
        .stream = gather, .stream_ctx = &streamed,
    };
    if (lbox_env_create(&ec, &env, err) < 0)
        goto out;
    struct lbox_invoke_request rq = {.payload = o->event, .len = o->event_len};
    struct lbox_invoke_result res;
    if (lbox_env_invoke(env, &rq, &res, err) < 0)
        goto out;
    c->status = res.status == LBOX_INVOKE_OK ? LBOX_MATRIX_OK
                : res.status == LBOX_INVOKE_TIMEOUT ? LBOX_MATRIX_TIMEOUT
                                                     : LBOX_MATRIX_FUNCTION_ERROR;
    if (res.streamed && res.status == LBOX_INVOKE_OK) {
        c->response = streamed.data ? streamed.data : lbox_xstrdup("");
        streamed.data = NULL;
    } else { /* an error's JSON, also when it broke a stream */
        c->response = lbox_xmalloc(res.len + 1);
        memcpy(c->response, res.payload ? res.payload : "", res.len);
        c->response[res.len] = '\0';
    }
    c->duration_ms = res.duration_ms;
    c->init_duration_ms = res.init_duration_ms;
    c->max_memory_mb = res.max_memory_mb;
    lbox_invoke_result_free(&res);
    rc = 0;
out:
    lbox_env_destroy(env);
    if (store)
        lbox_store_close(store);
    lbox_image_facts_free(&facts);
    lbox_strv_free(&user);
    lbox_strv_free(&envv);
    free(rootfs);
    free(arn);
    free(runtime_arn);
    free(fname);
    free(streamed.data);
    return rc;
}

/* Worker: runs one cell and writes {status, response, ...} to `path`. */
static void __attribute__((noreturn))
worker(const struct lbox_matrix_opts *o, struct lbox_matrix_cell *c, const char *path)
{
    struct lbox_error err = {0};
    struct log_tail tail = {.len = 0};
    c->init_duration_ms = -1;
    if (run_cell(o, c, &tail, &err) < 0) {
        c->status = LBOX_MATRIX_RUN_FAILED;
        c->error = lbox_xstrdup(err.msg);
    }
    json_t *j = json_pack("{s:i, s:f, s:f, s:i}", "status", (int)c->status, "duration",
                          c->duration_ms, "init", c->init_duration_ms, "memory",
                          (int)c->max_memory_mb);
    if (c->response)
        json_object_set_new(j, "response", json_string(c->response));
    if (c->error)
        json_object_set_new(j, "error", json_string(c->error));
    json_object_set_new(j, "log", json_stringn(tail.buf, tail.len));
    /* Non-UTF-8 output cannot be a JSON string: fall back to a note. */
    if (c->response && !json_object_get(j, "response"))
        json_object_set_new(j, "response", json_string("(response is not UTF-8 text)"));
    int rc = json_dump_file(j, path, JSON_COMPACT) == 0 ? 0 : 1;
    _exit(rc);
}

static void read_worker_result(struct lbox_matrix_cell *c, const char *path, int wstatus)
{
    json_t *j = json_load_file(path, 0, NULL);
    if (!j) {
        c->status = LBOX_MATRIX_RUN_FAILED;
        c->error = WIFSIGNALED(wstatus)
                       ? lbox_strdupf("the worker running it died of signal %d",
                                      WTERMSIG(wstatus))
                       : lbox_xstrdup("the worker running it left no result");
        return;
    }
    c->status = (enum lbox_matrix_status)json_integer_value(json_object_get(j, "status"));
    c->duration_ms = json_real_value(json_object_get(j, "duration"));
    c->init_duration_ms = json_real_value(json_object_get(j, "init"));
    c->max_memory_mb = (unsigned)json_integer_value(json_object_get(j, "memory"));
    const char *s;
    if ((s = json_string_value(json_object_get(j, "response"))))
        c->response = lbox_xstrdup(s);
    if ((s = json_string_value(json_object_get(j, "error"))))
        c->error = lbox_xstrdup(s);
    if ((s = json_string_value(json_object_get(j, "log"))) && *s)
        c->log_tail = lbox_xstrdup(s);
    json_decref(j);
}

/* ---- comparison ---- */

static char *normalize(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!j)
        return lbox_xstrdup(text);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s ? s : lbox_xstrdup(text);
}

long lbox_matrix_reference(const struct lbox_matrix_cell *cells, size_t n)
{
    long best = -1;
    size_t best_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cells[i].normalized)
            continue;
        size_t count = 0;
        for (size_t k = 0; k < n; k++)
            if (cells[k].normalized && !strcmp(cells[i].normalized, cells[k].normalized))
                count++;
        if (count > best_count) {
            best = (long)i;
            best_count = count;
        }
    }
    return best;
}

static void mark_differences(struct lbox_matrix_cell *cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cells[i].response)
            cells[i].normalized = normalize(cells[i].response);
    long ref = lbox_matrix_reference(cells, n);
    for (size_t i = 0; ref >= 0 && i < n; i++)
        cells[i].differs = cells[i].normalized && strcmp(cells[i].normalized, cells[ref].normalized);
}

bool lbox_matrix_all_equal(const struct lbox_matrix_cell *cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cells[i].status != LBOX_MATRIX_OK || cells[i].differs)
            return false;
    return n > 0;
}

/* ---- the whole matrix ---- */

static void build_cell(struct lbox_fetcher *f, const struct lbox_matrix_opts *o,
                       struct lbox_matrix_cell *c)
{
    struct lbox_build_opts bo = {.index_max_age_s = 24 * 3600, .format = LBOX_EXPORT_OCI};
    if (o->build)
        bo = *o->build;
    bo.runtime = c->runtime;
    bo.arch = c->arch;
    bo.code = o->code;
    bo.handler = o->handler;
    bo.tag = NULL;
    bo.output = NULL;
    struct lbox_build_result res;
    struct lbox_error err = {0};
    if (lbox_build(f, &bo, &res, &err) < 0) {
        c->status = LBOX_MATRIX_BUILD_FAILED;
        c->error = lbox_xstrdup(err.msg);
    } else {
        c->ref = lbox_xstrdup(res.ref);
        snprintf(c->digest, sizeof c->digest, "%s", res.manifest_digest);
    }
    lbox_build_result_free(&res);
}

/* The folders of results a matrix run keeps under <cache>/tmp while its workers run. */
static bool is_matrix_temp(const char *name) { return !strncmp(name, "matrix-", 7); }

int lbox_matrix_run(struct lbox_fetcher *f, const struct lbox_matrix_opts *o,
                    struct lbox_matrix_cell **out, size_t *nout, struct lbox_error *err)
{
    *out = NULL;
    *nout = 0;
    size_t n = o->nruntimes * o->narches;
    if (n == 0)
        return lbox_err(err, LBOX_E_INVAL, "no runtime or no architecture to run");
    struct lbox_matrix_cell *cells = lbox_xcalloc(n, sizeof *cells);
    for (size_t i = 0; i < o->nruntimes; i++)
        for (size_t k = 0; k < o->narches; k++) {
            struct lbox_matrix_cell *c = &cells[i * o->narches + k];
            const char *a = lbox_arch_canonical(o->arches[k]);
            c->runtime = lbox_xstrdup(o->runtimes[i]);
            c->arch = lbox_xstrdup(a ? a : o->arches[k]);
            c->init_duration_ms = -1;
        }

    /* Builds one after another: they share the layer cache and mostly wait on it. */
    for (size_t i = 0; i < n; i++) {
        if (o->progress)
            o->progress(o->progress_ctx, &cells[i], "building");
        build_cell(f, o, &cells[i]);
        if (o->progress && cells[i].error)
            o->progress(o->progress_ctx, &cells[i], "build failed");
    }

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t jobs = o->jobs ? o->jobs : (size_t)(cpus > 0 ? cpus : 1);
    _cleanup_free_ char *tmproot = lbox_path_join(f->cache_dir, "tmp");
    _cleanup_free_ char *dir = lbox_path_join(tmproot, "matrix-XXXXXX");
    pid_t *pids = lbox_xcalloc(n, sizeof *pids);
    int rc = -1, dir_lock = -1;
    if (lbox_mkdir_p(tmproot, 0755, err) < 0)
        goto out;
    /* A matrix that was killed left its folder of results; a running one holds its own
     * locked (cache_temp.h). */
    lbox_cache_sweep(tmproot, is_matrix_temp);
    if (lbox_cache_temp(dir, true, &dir_lock, err) < 0) {
        dir[0] = '\0';
        goto out;
    }
    size_t next = 0, running = 0;
    while (next < n || running > 0) {
        while (next < n && running < jobs) {
            struct lbox_matrix_cell *c = &cells[next];
            if (!c->ref) {
                next++;
                continue;
            }
            _cleanup_free_ char *path = lbox_strdupf("%s/%zu.json", dir, next);
            pid_t pid = fork();
            if (pid < 0) {
                lbox_err_errno(err, errno, "cannot start a worker for %s %s", c->runtime,
                               c->arch);
                goto out;
            }
            if (pid == 0)
                worker(o, c, path);
            if (o->progress)
                o->progress(o->progress_ctx, c, "running");
            pids[next++] = pid;
            running++;
        }
        if (running == 0)
            break;
        int ws;
        pid_t done = waitpid(-1, &ws, 0);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            lbox_err_errno(err, errno, "waiting for the workers");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (pids[i] == done) {
                _cleanup_free_ char *path = lbox_strdupf("%s/%zu.json", dir, i);
                read_worker_result(&cells[i], path, ws);
                pids[i] = 0;
                running--;
                if (o->progress)
                    o->progress(o->progress_ctx, &cells[i], "done");
            }
    }
    mark_differences(cells, n);
    *out = cells;
    *nout = n;
    cells = NULL;
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    free(pids);
    if (dir[0])
        lbox_rm_rf(dir, NULL);
    if (dir_lock >= 0)
        close(dir_lock);
    if (cells)
        lbox_matrix_cells_free(cells, n);
    return rc;
}

void lbox_matrix_cells_free(struct lbox_matrix_cell *cells, size_t n)
{
    for (size_t i = 0; cells && i < n; i++) {
        free(cells[i].runtime);
        free(cells[i].arch);
        free(cells[i].ref);
        free(cells[i].response);
        free(cells[i].normalized);
        free(cells[i].error);
        free(cells[i].log_tail);
    }
    free(cells);
}
