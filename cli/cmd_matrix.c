/* lbox matrix: one event through a function in every runtime × arch, as a table. */
#include <getopt.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "builder/recipe.h"
#include "commands.h"
#include "common/fsutil.h"
#include "common/shown.h"
#include "output.h"
#include "runner/event_input.h"
#include "runner/matrix.h"

extern char **environ;

enum { EXIT_OK = 0, EXIT_LBOX = 1, EXIT_USAGE = 2, EXIT_FAILED = 3, EXIT_DIFFERS = 4 };

static const char usage_text[] =
    "usage: lbox matrix --code DIR|ZIP [--event FILE] [options]\n"
    "\n"
    "Builds the function for every runtime and architecture (what is cached is reused),\n"
    "runs the event once, cold, in each (in parallel; foreign architectures through QEMU)\n"
    "and prints one row per combination: status, duration, init duration, max memory used,\n"
    "and whether the response equals the others' (a unified diff for those that differ;\n"
    "JSON responses are compared with sorted keys).\n"
    "Each build is kept as the image NAME:RUNTIME-ARCH (NAME from --code, as lbox build\n"
    "names it without --tag), replacing an image of that tag. Each run uses the image its\n"
    "own build made, not what that tag names by then.\n"
    "\n"
    "  --code PATH          function code: a directory or a Lambda .zip\n"
    "  -e, --event FILE     the event JSON ('-' reads stdin; default {})\n"
    "  --runtimes LIST      default nodejs14.x,nodejs16.x,nodejs18.x\n"
    "  --arches LIST        default x86_64,arm64\n"
    "  --handler H          default index.handler\n"
    "  -t, --timeout SEC    function timeout, 1-900 (default 30: emulation is slower)\n"
    "  -m, --memory MB      memory size, 128-10240 (default 256: QEMU's own memory counts)\n"
    "  -j, --jobs N         combinations run at once (default: the number of cores)\n"
    "  --node-source S, --npm-registry URL, --debian-mirror URL, --offline: as lbox build\n"
    "  --json               print the results as JSON\n"
    "\n"
    "Exit status:\n"
    "  0  every combination succeeded with the same response\n"
    "  1  lbox itself failed (store, workers, unreadable event)\n"
    "  2  bad command line\n"
    "  3  a combination failed: build, run, function error or timeout (wins over 4)\n"
    "  4  every combination succeeded but the responses differ\n";

/* "a,b,c" -> vector of pointers into a copy; *store keeps the copy. */
static const char **split_list(const char *text, size_t *n, char **store)
{
    *store = lbox_xstrdup(text);
    const char **v = lbox_xcalloc(strlen(text) / 2 + 2, sizeof *v);
    *n = 0;
    for (char *save = NULL, *t = strtok_r(*store, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t)
            v[(*n)++] = t;
    return v;
}

static void progress(void *ctx, const struct lbox_matrix_cell *c, const char *what)
{
    (void)ctx;
    if (!strcmp(what, "done"))
        fprintf(stderr, "lbox matrix: %s %s: %s\n", c->runtime, c->arch,
                lbox_matrix_status_name(c->status));
    else
        fprintf(stderr, "lbox matrix: %s %s: %s\n", c->runtime, c->arch, what);
}

static char *pretty(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    char *out = lbox_strdupf("%s\n", s ? s : text);
    free(s);
    return out;
}

/* Unified diff of two responses through diff(1) (diffutils is Essential on Debian); both
 * in full when diff cannot run. */
static void print_diff(const struct lbox_matrix_cell *ref, const struct lbox_matrix_cell *c)
{
    char a[] = "/tmp/lbox-matrix-a.XXXXXX", b[] = "/tmp/lbox-matrix-b.XXXXXX";
    int fa = mkstemp(a), fb = fa >= 0 ? mkstemp(b) : -1;
    char *pa = pretty(ref->response), *pb = pretty(c->response);
    char *la = lbox_strdupf("%s %s (reference)", ref->runtime, ref->arch);
    char *lb = lbox_strdupf("%s %s", c->runtime, c->arch);
    bool shown = false;
    if (fa >= 0 && fb >= 0 && write(fa, pa, strlen(pa)) == (ssize_t)strlen(pa) &&
        write(fb, pb, strlen(pb)) == (ssize_t)strlen(pb)) {
        fflush(stdout);
        char *argv[] = {"diff", "-u", "--label", la, "--label", lb, a, b, NULL};
        pid_t pid;
        int ws;
        if (posix_spawnp(&pid, "diff", NULL, NULL, argv, environ) == 0 &&
            waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 1)
            shown = true;
    }
    if (!shown)
        printf("--- %s\n%s+++ %s\n%s", la, pa, lb, pb);
    if (fa >= 0) {
        close(fa);
        unlink(a);
    }
    if (fb >= 0) {
        close(fb);
        unlink(b);
    }
    free(pa);
    free(pb);
    free(la);
    free(lb);
}

static const char *ms(double v, char *buf, size_t len)
{
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f ms", v);
    return buf;
}

static void print_table(const struct lbox_matrix_cell *cells, size_t n)
{
    long ref = lbox_matrix_reference(cells, n);
    printf("%-11s %-7s %-12s %11s %11s %8s  %s\n", "RUNTIME", "ARCH", "STATUS", "DURATION",
           "INIT", "MAX MEM", "RESPONSE");
    for (size_t i = 0; i < n; i++) {
        const struct lbox_matrix_cell *c = &cells[i];
        char d[32], in[32], mem[32];
        bool ran = c->status != LBOX_MATRIX_BUILD_FAILED && c->status != LBOX_MATRIX_RUN_FAILED;
        snprintf(mem, sizeof mem, ran ? "%u MB" : "-", c->max_memory_mb);
        const char *resp = !c->normalized ? "-"
                           : c->differs   ? "differs"
                           : (long)i == ref ? "same (reference)" : "same";
        printf("%-11s %-7s %-12s %11s %11s %8s  %s\n", c->runtime, c->arch,
               lbox_matrix_status_name(c->status), ran ? ms(c->duration_ms, d, sizeof d) : "-",
               ran ? ms(c->init_duration_ms, in, sizeof in) : "-", mem, resp);
    }
    for (size_t i = 0; i < n; i++) {
        const struct lbox_matrix_cell *c = &cells[i];
        if (c->error)
            printf("\n%s %s: %s\n", c->runtime, c->arch, c->error);
        if (c->status != LBOX_MATRIX_OK && c->log_tail) {
            /* The function's own bytes: shown, not obeyed, on a terminal (common/shown.h). */
            printf("\n%s %s: last output:\n", c->runtime, c->arch);
            fflush(stdout);
            lbox_write_shown(STDOUT_FILENO, isatty(STDOUT_FILENO) == 1, c->log_tail,
                             strlen(c->log_tail));
            printf("\n");
        }
    }
    for (size_t i = 0; i < n; i++)
        if (cells[i].differs) {
            putchar('\n');
            print_diff(&cells[ref], &cells[i]);
        }
}

static void print_json(const struct lbox_matrix_cell *cells, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct lbox_matrix_cell *c = &cells[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "runtime", c->runtime, "arch", c->arch,
                              "status", lbox_matrix_status_name(c->status), "differs",
                              c->differs);
        if (c->ref)
            json_object_set_new(o, "image", json_string(c->ref));
        if (c->response) {
            json_object_set_new(o, "duration_ms", json_real(c->duration_ms));
            json_object_set_new(o, "init_duration_ms",
                                c->init_duration_ms < 0 ? json_null()
                                                        : json_real(c->init_duration_ms));
            json_object_set_new(o, "max_memory_mb", json_integer(c->max_memory_mb));
            json_t *r = json_loads(c->response, JSON_DECODE_ANY, NULL);
            json_object_set_new(o, "response", r ? r : json_string(c->response));
        }
        if (c->error)
            json_object_set_new(o, "error", json_string(c->error));
        json_array_append_new(arr, o);
    }
    long ref = lbox_matrix_reference(cells, n);
    json_t *j = json_pack("{s:o, s:b}", "results", arr, "equal", lbox_matrix_all_equal(cells, n));
    json_object_set_new(j, "reference", ref >= 0 ? json_integer(ref) : json_null());
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
}

/* The first name of `v` given twice (for arches, by what it names: amd64 is x86_64), or NULL.
 * A repeat would build and run one image twice, and its second row (another requestId)
 * would read as a difference. */
static const char *repeated(const char **v, size_t n, bool arches)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(arches ? lbox_arch_canonical(v[i]) : v[i],
                        arches ? lbox_arch_canonical(v[j]) : v[j]))
                return v[i];
    return NULL;
}

static int parse_num(const char *flag, const char *s, long lo, long hi, unsigned *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "lbox matrix: %s '%s': a whole number from %ld to %ld\n", flag, s, lo, hi);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int cmd_matrix(int argc, char **argv)
{
    enum { O_CODE = 256, O_RUNTIMES, O_ARCHES, O_HANDLER, O_NODE_SOURCE, O_NPM_REGISTRY,
           O_DEBIAN_MIRROR, O_OFFLINE, O_JSON };
    static const struct option opts[] = {
        {"code", required_argument, NULL, O_CODE},
        {"event", required_argument, NULL, 'e'},
        {"runtimes", required_argument, NULL, O_RUNTIMES},
        {"arches", required_argument, NULL, O_ARCHES},
        {"handler", required_argument, NULL, O_HANDLER},
        {"timeout", required_argument, NULL, 't'},
        {"memory", required_argument, NULL, 'm'},
        {"jobs", required_argument, NULL, 'j'},
        {"node-source", required_argument, NULL, O_NODE_SOURCE},
        {"npm-registry", required_argument, NULL, O_NPM_REGISTRY},
        {"debian-mirror", required_argument, NULL, O_DEBIAN_MIRROR},
        {"offline", no_argument, NULL, O_OFFLINE},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct lbox_build_opts bo = {.index_max_age_s = 24 * 3600, .format = LBOX_EXPORT_OCI};
    struct lbox_matrix_opts mo = {.timeout_s = 30, .memory_mb = 256, .build = &bo};
    const char *event_path = NULL, *runtimes = "nodejs14.x,nodejs16.x,nodejs18.x",
               *arches = "x86_64,arm64";
    bool offline = false, json = false;
    struct lbox_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:t:m:j:h", opts, NULL)) != -1) {
        switch (c) {
        case O_CODE: mo.code = optarg; break;
        case 'e': event_path = optarg; break;
        case O_RUNTIMES: runtimes = optarg; break;
        case O_ARCHES: arches = optarg; break;
        case O_HANDLER:
            if (lbox_build_check_handler(optarg, &err) < 0) {
                lbox_print_error("matrix", &err);
                return EXIT_USAGE;
            }
            mo.handler = optarg;
            break;
        case 't':
            if (parse_num("--timeout", optarg, 1, 900, &mo.timeout_s) < 0)
                return EXIT_USAGE;
            break;
        case 'm':
            if (parse_num("--memory", optarg, 128, 10240, &mo.memory_mb) < 0)
                return EXIT_USAGE;
            break;
        case 'j':
            if (parse_num("--jobs", optarg, 1, 64, &mo.jobs) < 0)
                return EXIT_USAGE;
            break;
        case O_NODE_SOURCE:
            if (lbox_node_source_parse(optarg, &bo.node.source, &err) < 0) {
                lbox_print_error("matrix", &err);
                return EXIT_USAGE;
            }
            break;
        case O_NPM_REGISTRY: bo.npm_registry = optarg; break;
        case O_DEBIAN_MIRROR: bo.debian_mirror = optarg; break;
        case O_OFFLINE: offline = true; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        default: fputs(usage_text, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc || !mo.code) {
        fprintf(stderr, "lbox matrix: %s\n\n",
                optind < argc ? "unexpected argument" : "--code is required");
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    char *rt_store = NULL, *arch_store = NULL;
    const char **rtv = split_list(runtimes, &mo.nruntimes, &rt_store);
    const char **archv = split_list(arches, &mo.narches, &arch_store);
    mo.runtimes = rtv;
    mo.arches = archv;
    int rc = EXIT_USAGE;
    struct lbox_events events = {0};
    struct lbox_fetcher f = {0};
    bool have_fetcher = false;
    struct lbox_matrix_cell *cells = NULL;
    size_t n = 0;
    if (mo.nruntimes == 0 || mo.narches == 0) {
        fprintf(stderr, "lbox matrix: --runtimes and --arches need at least one name each\n");
        goto out;
    }
    for (size_t i = 0; i < mo.narches; i++)
        if (lbox_cli_check_target("matrix", NULL, archv[i]) != 0)
            goto out;
    for (size_t i = 0; i < mo.nruntimes; i++)
        if (lbox_cli_check_target("matrix", rtv[i], archv[0]) != 0)
            goto out;
    const char *twice = repeated(rtv, mo.nruntimes, false), *flag = "--runtimes";
    if (!twice) {
        twice = repeated(archv, mo.narches, true);
        flag = "--arches (amd64 is x86_64, aarch64 is arm64)";
    }
    if (twice) {
        fprintf(stderr, "lbox matrix: '%s' is named twice in %s; name each once\n", twice, flag);
        goto out;
    }
    rc = EXIT_LBOX;
    if (event_path ? lbox_events_add_file(&events, event_path, &err) < 0
                   : lbox_events_add_buffer(&events, "{}", 2, "(default)", &err) < 0)
        goto fail;
    if (events.n != 1) {
        fprintf(stderr, "lbox matrix: %s holds %zu events; give exactly one\n", event_path,
                events.n);
        rc = EXIT_USAGE;
        goto out;
    }
    mo.event = events.v[0].data;
    mo.event_len = events.v[0].len;
    if (lbox_fetcher_init(&f, &err) < 0)
        goto fail;
    have_fetcher = true;
    f.offline = offline;
    f.notice = lbox_print_notice;
    mo.progress = progress;
    if (lbox_matrix_run(&f, &mo, &cells, &n, &err) < 0)
        goto fail;
    if (json)
        print_json(cells, n);
    else
        print_table(cells, n);
    rc = EXIT_OK;
    for (size_t i = 0; i < n; i++)
        if (cells[i].status != LBOX_MATRIX_OK)
            rc = EXIT_FAILED;
        else if (cells[i].differs && rc == EXIT_OK)
            rc = EXIT_DIFFERS;
    goto out;
fail:
    lbox_print_error("matrix", &err);
out:
    lbox_matrix_cells_free(cells, n);
    lbox_events_free(&events);
    if (have_fetcher)
        lbox_fetcher_free(&f);
    free(rtv);
    free(archv);
    free(rt_store);
    free(arch_store);
    return rc;
}
