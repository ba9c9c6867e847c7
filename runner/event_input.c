#include "event_input.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "runtime_api.h"

static int read_stdin(char **data, size_t *len, struct lbox_error *err)
{
    size_t cap = 65536, n = 0;
    char *buf = lbox_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = lbox_xrealloc(buf, cap *= 2);
        ssize_t r = read(STDIN_FILENO, buf + n, cap - n - 1);
        if (r == 0)
            break;
        if (r < 0) {
            free(buf);
            return lbox_err_errno(err, errno, "reading the event from stdin");
        }
        n += (size_t)r;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

static void push(struct lbox_events *evs, const char *data, size_t len, char *origin)
{
    evs->v = lbox_xrealloc(evs->v, (evs->n + 1) * sizeof *evs->v);
    struct lbox_event *e = &evs->v[evs->n++];
    e->data = lbox_xmalloc(len + 1);
    memcpy(e->data, data, len);
    e->data[len] = 0;
    e->len = len;
    e->origin = origin;
}

static int check_event(const char *data, size_t len, const char *origin,
                       struct lbox_error *err)
{
    if (len > LBOX_MAX_EVENT_BYTES)
        return lbox_err(err, LBOX_E_LIMIT,
                        "event %s has %zu bytes: Request must be smaller than 6291456 bytes "
                        "for the InvokeFunction operation",
                        origin, len);
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (!j)
        return lbox_err(err, LBOX_E_INVAL,
                        "event %s is not valid JSON (line %d, column %d: %s); Lambda only "
                        "accepts JSON payloads",
                        origin, jerr.line, jerr.column, jerr.text);
    json_decref(j);
    return 0;
}

int lbox_events_add_buffer(struct lbox_events *evs, const char *data, size_t len,
                           const char *origin, struct lbox_error *err)
{
    if (check_event(data, len, origin, err) < 0)
        return -1;
    push(evs, data, len, lbox_xstrdup(origin));
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

int lbox_events_add_file(struct lbox_events *evs, const char *path, struct lbox_error *err)
{
    bool from_stdin = !strcmp(path, "-");
    const char *name = from_stdin ? "stdin" : path;
    char *data = NULL;
    size_t len = 0;
    if (from_stdin ? read_stdin(&data, &len, err) : lbox_read_file(path, 0, &data, &len, err))
        return lbox_err_prefix(err, "--event");
    if (blank(data, len)) {
        free(data);
        return lbox_err(err, LBOX_E_INVAL, "event %s is empty: write a JSON document such as {}",
                        name);
    }

    /* One JSON document, or else JSON lines (one event per non-empty line). */
    json_t *whole = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    if (whole) {
        json_decref(whole);
        int r = lbox_events_add_buffer(evs, data, len, name, err);
        free(data);
        return r;
    }
    size_t before = evs->n;
    int lineno = 0, r = 0;
    for (char *line = data; line < data + len && r == 0;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        lineno++;
        if (!blank(line, n)) {
            char *origin = lbox_strdupf("%s line %d", name, lineno);
            r = lbox_events_add_buffer(evs, line, n, origin, err);
            free(origin);
        }
        line += n + 1;
    }
    free(data);
    if (r < 0) {
        /* Nothing half-added. */
        while (evs->n > before) {
            evs->n--;
            free(evs->v[evs->n].data);
            free(evs->v[evs->n].origin);
        }
        return -1;
    }
    return 0;
}

void lbox_events_free(struct lbox_events *evs)
{
    for (size_t i = 0; i < evs->n; i++) {
        free(evs->v[i].data);
        free(evs->v[i].origin);
    }
    free(evs->v);
    evs->v = NULL;
    evs->n = 0;
}

/* Adds every member of obj to user, converting scalars to text as SAM does. */
static int add_object(const json_t *obj, const char *path, struct lbox_strv *user,
                      struct lbox_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char buf[64];
        const char *text;
        if (json_is_string(v))
            text = json_string_value(v);
        else if (json_is_integer(v))
            text = (snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), buf);
        else if (json_is_real(v))
            text = (snprintf(buf, sizeof buf, "%g", json_real_value(v)), buf);
        else if (json_is_boolean(v))
            text = json_is_true(v) ? "true" : "false";
        else
            return lbox_err(err, LBOX_E_INVAL,
                            "env file %s: the value of %s must be a string, number or boolean",
                            path, k);
        if (lbox_env_check_user_var(k, err) < 0)
            return lbox_err_prefix(err, "env file %s", path);
        lbox_strv_set(user, k, text);
    }
    return 0;
}

int lbox_env_file_load(const char *path, const char *function_name, struct lbox_strv *user,
                       struct lbox_error *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return lbox_err(err, LBOX_E_INVAL, "env file %s: %s (line %d, column %d)", path,
                        jerr.text, jerr.line, jerr.column);
    int r = 0;
    if (!json_is_object(root)) {
        r = lbox_err(err, LBOX_E_INVAL,
                     "env file %s: expected an object like {\"Parameters\": {\"NAME\": "
                     "\"value\"}} or {\"%s\": {...}}",
                     path, function_name);
        goto out;
    }
    bool nested = false;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
        if (json_is_object(v))
            nested = true;
    if (!nested) {
        r = add_object(root, path, user, err);
        goto out;
    }
    json_t *params = json_object_get(root, "Parameters");
    if (params && (r = add_object(params, path, user, err)) < 0)
        goto out;
    json_t *mine = json_object_get(root, function_name);
    if (mine && json_is_object(mine))
        r = add_object(mine, path, user, err);
out:
    json_decref(root);
    return r;
}
