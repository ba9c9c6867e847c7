/* lbox invoke: run events through an image in one warm Lambda environment. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/image.h"
#include "builder/recipe.h"
#include "builder/store.h"
#include "commands.h"
#include "invoke_output.h"
#include "output.h"
#include "common/fsutil.h"
#include "runner/env_vars.h"
#include "runner/environment.h"
#include "runner/event_input.h"
#include "runner/runtime_api.h"
#include "sandbox/sandbox.h"

extern char **environ;

enum {
    EXIT_OK = 0,
    EXIT_LBOX_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_FUNCTION_ERROR = 3,
    EXIT_TIMEOUT = 4,
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: lbox invoke IMAGE [--event FILE | -]... [options]\n"
            "\n"
            "Runs each event through one warm Lambda environment made from IMAGE, as Lambda\n"
            "reuses one. The response (or the error JSON) of each event goes to stdout as the\n"
            "function gave it, followed by a newline; the function's logs and Lambda's\n"
            "START/END/REPORT lines go to stderr. On a terminal, control characters from the\n"
            "function are shown as \\xHH instead of acting on it.\n"
            "\n"
            "  -e, --event FILE     event JSON file; '-' reads stdin; a file of JSON lines\n"
            "                       gives one event per line; repeatable (default: {});\n"
            "                       at most 1,000,000 events and 256 MiB per file\n"
            "  -t, --timeout SEC    function timeout, 1-900 (default 3)\n"
            "  -m, --memory MB      memory size, 128-10240 (default 128)\n"
            "      --env NAME=VALUE environment variable; repeatable (wins over --env-file)\n"
            "      --env-file FILE  JSON: {\"Parameters\": {...}} and/or {\"<function>\": {...}}\n"
            "                       (SAM's format), or a flat {\"NAME\": \"value\"};\n"
            "                       repeatable (a later file wins)\n"
            "      --tmp-size MB    size of /tmp, 512-10240 (default 512)\n"
            "      --network MODE   none (loopback only, default) or host (the host's\n"
            "                       network; the Runtime API is then on the host's loopback\n"
            "                       and takes only the sandbox's own connections)\n"
            "      --prewarm        initialise before the first event (no cold start in it)\n"
            "      --function-name NAME\n"
            "                       1-64 letters, digits, '-', '_' (default: the image's\n"
            "                       name); picks the function's entry in an --env-file\n"
            "      --json           one JSON line per event on stdout, for scripts: requestId,\n"
            "                       status (success, error, timeout), payload (the response or\n"
            "                       the error JSON, as a string), errorType, durationMs,\n"
            "                       initDurationMs (cold start), maxMemoryUsedMB, and for a\n"
            "                       stream that failed after it began, streamed (the bytes\n"
            "                       that went out); payload, errorType and streamed become\n"
            "                       payloadBase64, ... when they are not UTF-8\n"
            "  -h, --help           this text\n"
            "\n"
            "AWS credentials and region come from your AWS_* environment when set.\n"
            "\n"
            "Exit status:\n"
            "  0      every event succeeded\n"
            "  1      lbox could not run the events: the image, an event or env file, an\n"
            "         oversized event, the sandbox, stdout that cannot be written, ...\n"
            "  2      bad command line\n"
            "  3      a function error (Lambda's X-Amz-Function-Error: Unhandled)\n"
            "  4      a timeout (takes precedence over 3 when events differ)\n"
            "  128+N  ended by signal N: 130 Ctrl-C, 141 stdout's reader went away,\n"
            "         143 SIGTERM (the sandbox goes with lbox)\n");
}

static int parse_range(const char *flag, const char *text, long lo, long hi, const char *what,
                       unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "lbox invoke: %s '%s': %s must be a whole number from %ld to %ld\n", flag,
                text, what, lo, hi);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* "registry/path/hello:test" -> "hello": Lambda names are [A-Za-z0-9-_], at most 64. */
static char *function_name_of(const char *ref)
{
    const char *base = strrchr(ref, '/');
    base = base ? base + 1 : ref;
    if (!strncmp(ref, "sha256:", 7))
        return lbox_xstrdup("function");
    char *name = lbox_xstrdup(base);
    char *colon = strchr(name, ':');
    if (colon)
        *colon = 0;
    for (char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            *p = '-';
    if (strlen(name) > 64)
        name[64] = 0;
    if (!*name) {
        free(name);
        return lbox_xstrdup("function");
    }
    return name;
}

/* --env NAME=VALUE is the command line's business (exit 2): its form, and a NAME Lambda
 * reserves, which its configuration refuses too. (An --env-file is content, checked later.) */
static int check_env_arg(const char *arg, struct lbox_error *err)
{
    char *name;
    const char *value;
    if (lbox_env_parse_user_arg(arg, &name, &value, err) < 0)
        return -1;
    int rc = lbox_env_check_user_var(name, err);
    if (rc < 0)
        lbox_err_prefix(err, "--env '%s'", arg);
    free(name);
    return rc;
}

/* The function gets the caller's credentials only as a key and secret pair in the
 * environment (else placeholders): say so when the caller seems to expect otherwise. */
static void warn_about_credentials(void)
{
    bool key = getenv("AWS_ACCESS_KEY_ID") && *getenv("AWS_ACCESS_KEY_ID");
    bool secret = getenv("AWS_SECRET_ACCESS_KEY") && *getenv("AWS_SECRET_ACCESS_KEY");
    if (key != secret)
        lbox_print_warning("invoke", key ? "AWS_ACCESS_KEY_ID is set without "
                                           "AWS_SECRET_ACCESS_KEY: the function gets "
                                           "placeholder credentials"
                                         : "AWS_SECRET_ACCESS_KEY is set without "
                                           "AWS_ACCESS_KEY_ID: the function gets placeholder "
                                           "credentials");
    else if (!key && getenv("AWS_PROFILE") && *getenv("AWS_PROFILE"))
        lbox_print_warning("invoke", "AWS_PROFILE is set, but the function gets credentials "
                                     "only from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                     "(and AWS_SESSION_TOKEN): export them, for instance with "
                                     "`eval \"$(aws configure export-credentials --format "
                                     "env)\"`; it gets placeholders meanwhile");
}

/* The static QEMU that runs a foreign-arch image here (sandbox's choice), or NULL. */
static char *find_qemu(const char *arch)
{
    const char *q = lbox_binfmt_default_qemu(arch);
    return q && access(q, X_OK) == 0 ? lbox_xstrdup(q) : NULL;
}

/* Where the function's bytes go: stdout and stderr (shown safely on a terminal), or, with
 * --json, a streamed response is kept for the event's JSON line. */
struct output {
    bool json, out_terminal, err_terminal;
    char *streamed;
    size_t len, cap;
    bool mid_line; /* without --json: the stream's bytes so far did not end a line */
    int out_errno; /* stdout could not be written (a full disk, ...): why; 0 if it could */
};

/* A write to stdout that failed: the responses are lost, which the caller must hear of. A
 * reader that went away (a closed pipe) is not a failure of lbox's: its SIGPIPE ends lbox,
 * as it ends any command in a pipeline. */
static void check_stdout(struct output *o, int written)
{
    if (written < 0 && errno != EPIPE && !o->out_errno)
        o->out_errno = errno;
}

static void to_stderr(void *ctx, const char *data, size_t len)
{
    struct output *o = ctx;
    lbox_write_shown(STDERR_FILENO, o->err_terminal, data, len);
}

static void to_stdout(void *ctx, const void *data, size_t len)
{
    struct output *o = ctx;
    if (!o->json) {
        check_stdout(o, lbox_write_shown(STDOUT_FILENO, o->out_terminal, data, len));
        if (len)
            o->mid_line = ((const char *)data)[len - 1] != '\n';
        return;
    }
    if (o->len + len > o->cap) {
        o->cap = (o->len + len) * 2;
        o->streamed = lbox_xrealloc(o->streamed, o->cap);
    }
    memcpy(o->streamed + o->len, data, len);
    o->len += len;
}

static void print_result(struct output *o, const struct lbox_invoke_result *res)
{
    if (o->json) {
        char *line = lbox_invoke_result_line(res, o->streamed, o->len);
        if (line)
            check_stdout(o, lbox_write_all(STDOUT_FILENO, line, strlen(line)));
        free(line);
        o->len = 0;
        return;
    }
    if (!res->streamed || res->status != LBOX_INVOKE_OK) {
        /* A stream cut short (by an error, or a timeout): its error on a line of its own,
         * not glued to the bytes. */
        if (o->mid_line)
            check_stdout(o, lbox_write_all(STDOUT_FILENO, "\n", 1));
        check_stdout(o, lbox_write_shown(STDOUT_FILENO, o->out_terminal, res->payload, res->len));
    }
    check_stdout(o, lbox_write_all(STDOUT_FILENO, "\n", 1));
    o->mid_line = false;
}

int cmd_invoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"event", required_argument, NULL, 'e'},   {"timeout", required_argument, NULL, 't'},
        {"memory", required_argument, NULL, 'm'},  {"env", required_argument, NULL, 'E'},
        {"env-file", required_argument, NULL, 'F'}, {"tmp-size", required_argument, NULL, 'T'},
        {"network", required_argument, NULL, 'N'}, {"prewarm", no_argument, NULL, 'P'},
        {"function-name", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned timeout = 3, memory = 128, tmp = 512;
    bool host_net = false, prewarm = false;
    const char *fname_flag = NULL;
    const char **event_paths = lbox_xcalloc((size_t)argc + 1, sizeof *event_paths);
    const char **env_args = lbox_xcalloc((size_t)argc + 1, sizeof *env_args);
    const char **env_files = lbox_xcalloc((size_t)argc + 1, sizeof *env_files);
    size_t n_events = 0, n_env = 0, n_env_files = 0;
    bool stdin_taken = false;
    int rc = EXIT_USAGE, c;

    struct lbox_events events = {0};
    struct lbox_strv user = {0}, envv = {0};
    struct lbox_image_facts facts = {0};
    struct lbox_store *store = NULL;
    struct lbox_env *env = NULL;
    char *rootfs = NULL, *qemu = NULL, *fname = NULL, *arn = NULL, *runtime_arn = NULL;
    struct lbox_error err = {0};
    struct output output = {.out_terminal = isatty(STDOUT_FILENO) == 1,
                            .err_terminal = isatty(STDERR_FILENO) == 1};

    optind = 1;
    while ((c = getopt_long(argc, argv, "e:t:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (!strcmp(optarg, "-") && stdin_taken) {
                fprintf(stderr, "lbox invoke: --event - is given twice: stdin is read once (put "
                                "several events in it, one JSON document per line)\n");
                goto out;
            }
            stdin_taken |= !strcmp(optarg, "-");
            event_paths[n_events++] = optarg;
            break;
        case 't':
            if (parse_range("--timeout", optarg, 1, 900, "a Lambda timeout (seconds)", &timeout))
                goto out;
            break;
        case 'm':
            if (parse_range("--memory", optarg, 128, 10240, "a Lambda memory size (MB)", &memory))
                goto out;
            break;
        case 'T':
            if (parse_range("--tmp-size", optarg, 512, 10240, "Lambda's /tmp size (MB)", &tmp))
                goto out;
            break;
        case 'E':
            if (check_env_arg(optarg, &err) < 0) {
                lbox_print_error("invoke", &err);
                goto out;
            }
            env_args[n_env++] = optarg;
            break;
        case 'F': env_files[n_env_files++] = optarg; break;
        case 'N':
            if (!strcmp(optarg, "host"))
                host_net = true;
            else if (strcmp(optarg, "none") != 0) {
                fprintf(stderr, "lbox invoke: --network '%s': use none or host\n", optarg);
                goto out;
            }
            break;
        case 'P': prewarm = true; break;
        case 'j': output.json = true; break;
        case 'n':
            if (lbox_env_check_function_name(optarg, &err) < 0) {
                lbox_err_prefix(&err, "--function-name");
                lbox_print_error("invoke", &err);
                goto out;
            }
            fname_flag = optarg;
            break;
        case 'h': usage(stdout); rc = EXIT_OK; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "lbox invoke: which image? (see `lbox images`)\n\n");
        usage(stderr);
        goto out;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "lbox invoke: unexpected '%s' after the image: one IMAGE, and events "
                        "go with --event FILE\n", argv[optind + 1]);
        goto out;
    }
    const char *ref = argv[optind];
    rc = EXIT_LBOX_FAILED;
    /* The seccomp filter compiles and libmicrohttpd loads while the image is looked up. */
    lbox_sandbox_prepare();
    lbox_rapi_prepare();

    /* Everything the user gave is checked before anything starts. */
    fname = fname_flag ? lbox_xstrdup(fname_flag) : function_name_of(ref);
    for (size_t i = 0; i < n_events; i++) {
        if (!strcmp(event_paths[i], "-") && isatty(STDIN_FILENO) == 1)
            fprintf(stderr, "lbox invoke: reading the event from stdin (end it with Ctrl-D)\n");
        if (lbox_events_add_file(&events, event_paths[i], &err) < 0)
            goto fail;
    }
    if (n_events == 0 && lbox_events_add_buffer(&events, "{}", 2, "(default)", &err) < 0)
        goto fail;
    for (size_t i = 0; i < n_env_files; i++) {
        char *note = NULL;
        if (lbox_env_file_load(env_files[i], fname, &user, &note, &err) < 0)
            goto fail;
        if (note)
            lbox_print_warning("invoke", note);
        free(note);
    }
    for (size_t i = 0; i < n_env; i++)
        if (lbox_env_add_user_arg(&user, env_args[i], &err) < 0)
            goto fail;
    if (lbox_env_check_user_size(&user, &err) < 0)
        goto fail;

    /* One digest for the config and the rootfs: a rebuild may move the tag meanwhile. */
    char digest[72];
    if (lbox_store_open(NULL, &store, &err) < 0 || lbox_store_resolve(store, ref, digest, &err) < 0 ||
        lbox_image_facts_read(store, digest, &facts, &err) < 0)
        goto fail;
    if (strcmp(facts.arch, lbox_arch_host()) != 0 && !(qemu = find_qemu(facts.arch))) {
        fprintf(stderr,
                "lbox invoke: %s is an %s image and this machine is %s: install QEMU user "
                "emulation (apt-get install qemu-user-static) to run it\n",
                ref, facts.arch, lbox_arch_host());
        goto out;
    }
    if (lbox_store_rootfs(store, digest, &rootfs, &err) < 0)
        goto fail;
    lbox_store_release(store); /* the rootfs is held; the blobs are no longer needed */

    const char *region = lbox_env_region((const char *const *)environ);
    arn = lbox_strdupf("arn:aws:lambda:%s:123456789012:function:%s", region, fname);
    runtime_arn = lbox_env_runtime_arn(region, facts.runtime_build);
    struct lbox_env_settings es = {
        .function_name = fname, .function_version = "$LATEST", .handler = facts.handler,
        .memory_mb = memory, .image_env = (const char *const *)facts.env, .user = &user,
        .caller_env = (const char *const *)environ, .runtime_api = "127.0.0.1:9001",
        .initialization_type = prewarm ? "provisioned-concurrency" : "on-demand",
    };
    if (lbox_env_build(&es, &envv, &err) < 0)
        goto fail;
    warn_about_credentials();

    struct lbox_env_config ec = {
        .rootfs = rootfs, .arch = facts.arch, .qemu_path = qemu, .function_name = fname,
        .function_version = "$LATEST", .function_arn = arn, .handler = facts.handler,
        .runtime_version = facts.runtime_version, .runtime_version_arn = runtime_arn,
        .timeout_s = timeout, .memory_mb = memory, .tmp_size_mb = tmp, .host_network = host_net,
        .envp = envv.v, .log = to_stderr, .log_ctx = &output, .stream = to_stdout,
        .stream_ctx = &output,
    };
    if (lbox_env_create(&ec, &env, &err) < 0)
        goto fail;
    if (host_net && !lbox_sandbox_scopes_sockets())
        fprintf(stderr, "lbox invoke: --network host: this kernel is older than Linux 6.12 "
                "(no Landlock scopes), so the function can also connect to the host's "
                "abstract UNIX sockets (an X server, session buses, container shims)\n");
    const char *mode = lbox_env_memory_mode(env);
    if (mode && !strncmp(mode, "not enforced", 12))
        fprintf(stderr, "lbox invoke: memory limit %s\n", mode);
    if (prewarm && lbox_env_prewarm(env, &err) < 0)
        goto fail;

    rc = EXIT_OK;
    for (size_t i = 0; i < events.n; i++) {
        struct lbox_invoke_request rq = {.payload = events.v[i].data, .len = events.v[i].len};
        struct lbox_invoke_result res;
        if (lbox_env_invoke(env, &rq, &res, &err) < 0) {
            char origin[4096];
            lbox_event_origin(&events.v[i], origin, sizeof origin);
            lbox_err_prefix(&err, "event %s", origin);
            goto fail;
        }
        print_result(&output, &res);
        if (output.out_errno) {
            lbox_invoke_result_free(&res);
            fprintf(stderr, "lbox invoke: cannot write the responses to stdout: %s\n",
                    strerror(output.out_errno));
            rc = EXIT_LBOX_FAILED;
            goto out;
        }
        if (res.status == LBOX_INVOKE_TIMEOUT)
            rc = EXIT_TIMEOUT;
        else if (res.status == LBOX_INVOKE_FUNCTION_ERROR && rc != EXIT_TIMEOUT)
            rc = EXIT_FUNCTION_ERROR;
        lbox_invoke_result_free(&res);
    }
    goto out;

fail:
    lbox_print_error("invoke", &err);
    rc = EXIT_LBOX_FAILED;
out:
    lbox_env_destroy_before_exit(env); /* lbox exits now: no need to wait for the teardown */
    if (store)
        lbox_store_close(store);
    lbox_events_free(&events);
    lbox_strv_free(&user);
    lbox_strv_free(&envv);
    lbox_image_facts_free(&facts);
    free(rootfs);
    free(qemu);
    free(fname);
    free(arn);
    free(runtime_arn);
    free(event_paths);
    free(env_args);
    free(env_files);
    free(output.streamed);
    return rc;
}
