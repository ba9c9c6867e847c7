#include "event_input.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "runtime_api.h"

/* Keeps p (a text or name events point into) for the life of evs. */
static void own(struct lbox_events *evs, char *p)
{
    evs->owned = lbox_xrealloc(evs->owned, (evs->nowned + 1) * sizeof *evs->owned);
    evs->owned[evs->nowned++] = p;
}

/* After adding the events of `text` (named `name`): evs keeps both when that worked (r 0),
 * else they go. Returns r. */
static int keep(struct lbox_events *evs, char *text, char *name, int r)
{
    if (r < 0) {
        free(text);
        free(name);
        return -1;
    }
    own(evs, text);
    own(evs, name);
    return 0;
}

static int push(struct lbox_events *evs, const char *data, size_t len, const char *source,
                int line, struct lbox_error *err)
{
    if (evs->n == LBOX_MAX_EVENTS)
        return lbox_err(err, LBOX_E_LIMIT,
                        "--event: more than %u events in one call (%s holds the next): lbox "
                        "keeps every event in memory before the first invoke; split them "
                        "across several calls",
                        LBOX_MAX_EVENTS, source);
    if (evs->n == evs->cap) {
        evs->cap = evs->cap ? evs->cap * 2 : 16;
        evs->v = lbox_xrealloc(evs->v, evs->cap * sizeof *evs->v);
    }
    evs->v[evs->n++] = (struct lbox_event){.data = data, .len = len, .source = source,
                                           .line = line};
    return 0;
}

/* jansson reads JSON into C values, so it refuses some JSON that is valid (RFC 8259), that
 * Lambda passes on and Node's JSON.parse reads: \u0000 (unless JSON_ALLOW_NUL, and never in
 * an object key), integers beyond 64 bits (unless JSON_DECODE_INT_AS_REAL), numbers beyond
 * a double's range such as 1e400, and lone surrogates such as "\ud800". The event's bytes
 * are what the function gets, so these only matter to the check. */
enum { LOAD_FLAGS = JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL };

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of the JSON number (RFC 8259 §6) at s, 0 if none starts there. */
static size_t number_len(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        size_t first = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == first)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t first = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == first)
            return 0;
    }
    return i;
}

/* Rewrites s in place, token by token as JSON is tokenized, so that jansson can hold every
 * value: a number of two or more bytes becomes a space, a 0 and spaces, and each \uXXXX
 * escape in a string becomes \u0020. Every token keeps its kind and where it ends, and
 * whitespace may separate any two tokens, so the text is valid JSON exactly when s was, and
 * jansson's positions still point into s. Where s stops being tokens the rewriting stops:
 * the text is invalid there, and jansson says so as it would have. */
static void neutralize(char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] != '\\')
                    continue;
                if (i + 5 < n && s[i + 1] == 'u' && is_hex(s[i + 2]) && is_hex(s[i + 3]) &&
                    is_hex(s[i + 4]) && is_hex(s[i + 5])) {
                    memcpy(s + i, "\\u0020", 6);
                    i += 5;
                } else {
                    i++; /* the escaped byte, which may be a quote */
                }
            }
            i++;
        } else if (is_alpha(c)) {
            while (i < n && is_alpha(s[i])) /* true, false, null, or jansson's error */
                i++;
        } else if (c && strchr("{}[],: \t\r\n", c)) {
            i++;
        } else {
            size_t len = number_len(s + i, n - i);
            /* "01" is one invalid token to jansson, two numbers to the grammar: stop. */
            if (len == 0 || (i + len < n && is_digit(s[i + len])))
                return;
            if (len >= 2) {
                memset(s + i, ' ', len);
                s[i + 1] = '0';
            }
            i += len;
        }
    }
}

static int nul_error(const char *data, const char *nul, json_error_t *jerr)
{
    memset(jerr, 0, sizeof *jerr);
    jerr->line = 1;
    jerr->column = 1;
    for (const char *p = data; p < nul; p++) {
        jerr->column = *p == '\n' ? 1 : jerr->column + 1;
        jerr->line += *p == '\n';
    }
    jerr->position = (int)(nul - data);
    snprintf(jerr->text, sizeof jerr->text, "a NUL byte, which JSON does not allow");
    return -1;
}

/* Whether data is one JSON value. jansson decides; when it refuses, it decides again on a
 * neutralized copy (see above). Of the two errors the one further into the text is
 * reported: a real mistake stops both parses at the same place, and the original's message
 * names it best; the copy only gets further when jansson stopped at a value it cannot hold. */
static int json_check(const char *data, size_t len, json_error_t *jerr)
{
    /* jansson takes a raw NUL byte after a number or literal for the end of the text, so
     * "[1\0,2]" would pass; JSON has no place for one (a string spells it \u0000). */
    const char *nul = memchr(data, 0, len);
    if (nul)
        return nul_error(data, nul, jerr);
    json_t *j = json_loadb(data, len, LOAD_FLAGS, jerr);
    if (!j) {
        char *copy = lbox_xmalloc(len + 1);
        memcpy(copy, data, len);
        neutralize(copy, len);
        json_error_t again;
        j = json_loadb(copy, len, LOAD_FLAGS, &again);
        free(copy);
        if (!j && again.position > jerr->position)
            *jerr = again;
    }
    if (!j)
        return -1;
    json_decref(j);
    return 0;
}

/* in_line: the event is one line of a file of JSON lines (jansson's line is then 1). */
static int not_json(struct lbox_error *err, const char *origin, bool in_line,
                    const json_error_t *jerr)
{
    /* jansson's own limit (JSON_PARSER_MAX_DEPTH), not a fault of the event. */
    if (strstr(jerr->text, "maximum parsing depth"))
        return lbox_err(err, LBOX_E_LIMIT,
                        "event %s nests arrays or objects deeper than lbox can check (2048 "
                        "levels, reached at line %d, column %d): flatten the event",
                        origin, jerr->line, jerr->column);
    if (in_line)
        return lbox_err(err, LBOX_E_INVAL,
                        "event %s is not valid JSON (column %d: %s): in a file of several "
                        "events each line is one whole JSON document",
                        origin, jerr->column, jerr->text);
    return lbox_err(err, LBOX_E_INVAL,
                    "event %s is not valid JSON (line %d, column %d: %s); Lambda only "
                    "accepts JSON payloads",
                    origin, jerr->line, jerr->column, jerr->text);
}

static int check_size(size_t len, const char *origin, struct lbox_error *err)
{
    if (len > LBOX_MAX_EVENT_BYTES)
        return lbox_err(err, LBOX_E_LIMIT,
                        "event %s has %zu bytes: Request must be smaller than 6291456 bytes "
                        "for the InvokeFunction operation",
                        origin, len);
    return 0;
}

static int check_event(const char *data, size_t len, const char *origin, bool in_line,
                       struct lbox_error *err)
{
    if (check_size(len, origin, err) < 0)
        return -1;
    /* Editors on some systems start a UTF-8 file with one; JSON (and Lambda) refuse it. */
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
        return lbox_err(err, LBOX_E_INVAL,
                        "event %s starts with a UTF-8 byte order mark (bytes EF BB BF), which "
                        "JSON does not allow: save the file without it",
                        origin);
    json_error_t jerr;
    if (json_check(data, len, &jerr) < 0)
        return not_json(err, origin, in_line, &jerr);
    return 0;
}

int lbox_events_add_buffer(struct lbox_events *evs, const char *data, size_t len,
                           const char *origin, struct lbox_error *err)
{
    if (check_event(data, len, origin, false, err) < 0)
        return -1;
    char *copy = lbox_xmalloc(len + 1), *name = lbox_xstrdup(origin);
    memcpy(copy, data, len);
    copy[len] = 0;
    return keep(evs, copy, name, push(evs, copy, len, name, 0, err));
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* The length of the line at s (without its '\n'). */
static size_t line_len(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl ? (size_t)(nl - s) : (size_t)(end - s);
}

/* A file that is not one JSON document is JSON lines when its first non-blank line is a
 * JSON value by itself; else it is one document with a mistake, such as a pretty-printed
 * event with a trailing comma, and the document's own error is the one to show. */
static bool json_lines(const char *data, size_t len)
{
    const char *end = data + len;
    for (const char *line = data; line < end;) {
        size_t n = line_len(line, end);
        if (!blank(line, n)) {
            json_error_t jerr;
            return json_check(line, n, &jerr) == 0;
        }
        line += n + 1;
    }
    return false;
}

/* Adds each non-blank line of data as an event, in place: its '\n' becomes the event's
 * terminating NUL (data[len] is one already). All or nothing. */
static int add_lines(struct lbox_events *evs, char *data, size_t len, const char *name,
                     struct lbox_error *err)
{
    const char *end = data + len;
    size_t before = evs->n;
    int lineno = 0;
    for (char *line = data; line < end;) {
        size_t n = line_len(line, end);
        lineno++;
        if (!blank(line, n)) {
            char origin[4096];
            snprintf(origin, sizeof origin, "%s line %d", name, lineno);
            if (check_event(line, n, origin, true, err) < 0 ||
                push(evs, line, n, name, lineno, err) < 0) {
                evs->n = before; /* nothing half-added */
                return -1;
            }
            line[n] = '\0';
        }
        line += n + 1;
    }
    return 0;
}

int lbox_events_add_file(struct lbox_events *evs, const char *path, struct lbox_error *err)
{
    bool from_stdin = !strcmp(path, "-");
    const char *name = from_stdin ? "stdin" : path;
    if (from_stdin && evs->read_stdin)
        return lbox_err(err, LBOX_E_INVAL, "--event -: stdin can be read only once; put the "
                        "events in one JSON-lines file, one event per line");
    char *data = NULL;
    size_t len = 0;
    int rd = from_stdin ? lbox_read_fd(STDIN_FILENO, name, LBOX_MAX_EVENT_FILE_BYTES, &data,
                                       &len, err)
                        : lbox_read_file(path, LBOX_MAX_EVENT_FILE_BYTES, &data, &len, err);
    evs->read_stdin |= from_stdin;
    if (rd < 0 && err && err->code == LBOX_E_LIMIT)
        return lbox_err(err, LBOX_E_LIMIT,
                        "--event: %s holds more than %zu MiB, and lbox reads an event file "
                        "whole before the first invoke: split it into several files",
                        name, (size_t)LBOX_MAX_EVENT_FILE_BYTES >> 20);
    if (rd < 0)
        return lbox_err_prefix(err, "--event");
    if (blank(data, len)) {
        free(data);
        return lbox_err(err, LBOX_E_INVAL, "event %s is empty: write a JSON document such as {}",
                        name);
    }

    /* One JSON document, or else JSON lines (one event per non-blank line). The events
     * point into data, which evs keeps. */
    char *source = lbox_xstrdup(name);
    json_error_t jerr;
    int r;
    if (json_check(data, len, &jerr) == 0) {
        r = check_size(len, name, err);
        if (r == 0)
            r = push(evs, data, len, source, 0, err);
    } else if (json_lines(data, len)) {
        r = add_lines(evs, data, len, source, err);
    } else {
        r = check_event(data, len, name, false, err); /* what is wrong, said */
    }
    return keep(evs, data, source, r);
}

void lbox_events_free(struct lbox_events *evs)
{
    for (size_t i = 0; i < evs->nowned; i++)
        free(evs->owned[i]);
    free(evs->owned);
    free(evs->v);
    *evs = (struct lbox_events){0};
}

void lbox_event_origin(const struct lbox_event *e, char *buf, size_t size)
{
    if (e->line)
        snprintf(buf, size, "%s line %d", e->source, e->line);
    else
        snprintf(buf, size, "%s", e->source);
}

/* The fewest significant digits that read back as v (finite, >= 0), as Python's repr finds
 * them: digits without trailing zeros, and where the decimal point goes (v = 0.DIGITS x
 * 10^decpt). At each precision the correctly rounded decimal is tried first, then its
 * neighbours, which matter just above a power of two, where the doubles below are closer
 * together than those above. */
static void shortest_digits(double v, char digits[24], int *decpt)
{
    for (int prec = 1; prec <= 17; prec++) {
        char text[40];
        snprintf(text, sizeof text, "%.*e", prec - 1, v);
        char *e = strchr(text, 'e');
        int exp10 = atoi(e + 1) - (prec - 1); /* v ~ mantissa x 10^exp10 */
        *e = 0;
        unsigned long long m = 0;
        for (const char *p = text; *p; p++)
            if (*p != '.')
                m = m * 10 + (unsigned)(*p - '0');
        const unsigned long long tries[3] = {m, m + 1, m - 1};
        for (int i = 0; i < (m ? 3 : 2); i++) {
            char back[48];
            snprintf(back, sizeof back, "%llue%d", tries[i], exp10);
            if (strtod(back, NULL) != v)
                continue;
            int n = snprintf(digits, 24, "%llu", tries[i]);
            *decpt = n + exp10;
            while (n > 1 && digits[n - 1] == '0')
                digits[--n] = 0;
            return;
        }
    }
    snprintf(digits, 24, "0"); /* not reached: 17 digits always read back */
    *decpt = 1;
}

/* Python's str() of a float, which SAM puts in the environment: 8080.0, 3.14159265358979,
 * 1e+16, 1e-05 (fixed notation from 1e-4 up to 1e16, the shortest digits that read back). */
static void python_float_str(double v, char *buf, size_t size)
{
    static const char zeros[] = "0000000000000000";
    if (!isfinite(v)) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
        return;
    }
    char digits[24];
    int decpt;
    bool neg = signbit(v); /* -0.0 too */
    shortest_digits(neg ? -v : v, digits, &decpt);
    int nd = (int)strlen(digits);
    const char *sign = neg ? "-" : "";
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0)
            snprintf(buf, size, "%s0.%.*s%s", sign, -decpt, zeros, digits);
        else if (decpt >= nd)
            snprintf(buf, size, "%s%s%.*s.0", sign, digits, decpt - nd, zeros);
        else
            snprintf(buf, size, "%s%.*s.%s", sign, decpt, digits, digits + decpt);
    } else {
        snprintf(buf, size, "%s%c%s%s%s%02d", sign, digits[0], nd > 1 ? "." : "", digits + 1,
                 decpt > 0 ? "e+" : "e-", abs(decpt - 1));
    }
}

/* The text SAM (sam local invoke --env-vars, samcli's EnvironmentVariables) gives a value:
 * Python's str() of it, but true and false in lower case, and "" for null, objects and
 * arrays (in a template those are intrinsic functions SAM did not resolve). */
static const char *sam_value_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_true(v))
        return "true";
    if (json_is_false(v))
        return "false";
    if (json_is_integer(v))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        python_float_str(json_real_value(v), buf, size);
    else
        return "";
    return buf;
}

/* Adds every member of obj to user, with the values SAM would give them. */
static int add_object(const json_t *obj, const char *path, struct lbox_strv *user,
                      struct lbox_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        char buf[64];
        if (lbox_env_check_user_var(k, err) < 0)
            return lbox_err_prefix(err, "env file %s", path);
        lbox_strv_set(user, k, sam_value_text(v, buf, sizeof buf));
    }
    return 0;
}

/* A SAM-form file that has nothing for this function: its names, for the warning. */
static char *nothing_for(const json_t *root, const char *path, const char *function_name)
{
    char names[512] = "";
    size_t used = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)root, k, v) {
        int n = snprintf(names + used, sizeof names - used, "%s\"%s\"", used ? ", " : "", k);
        if (n < 0 || (size_t)n >= sizeof names - used)
            break;
        used += (size_t)n;
    }
    return lbox_strdupf("env file %s has no \"Parameters\" and nothing for the function "
                        "\"%s\" (it has %s): nothing from it applies; to use one of them, "
                        "pass --function-name with its name",
                        path, function_name, names);
}

int lbox_env_file_load(const char *path, const char *function_name, struct lbox_strv *user,
                       char **note, struct lbox_error *err)
{
    if (note)
        *note = NULL;
    /* Lambda holds all of a function's variables to 4 KB; a SAM file names many
     * functions, but not megabytes of them. */
    char *text = NULL;
    size_t len = 0;
    if (lbox_read_file(path, LBOX_MAX_ENV_FILE_BYTES, &text, &len, err) < 0) {
        if (err && err->code == LBOX_E_LIMIT)
            return lbox_err(err, LBOX_E_LIMIT,
                            "env file %s holds more than %u KiB; Lambda takes 4 KB of "
                            "variables per function",
                            path, LBOX_MAX_ENV_FILE_BYTES >> 10);
        return lbox_err_prefix(err, "env file");
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root && strstr(jerr.text, "JSON_ALLOW_NUL"))
        return lbox_err(err, LBOX_E_INVAL,
                        "env file %s: a string holds \\u0000 (line %d, column %d), which an "
                        "environment variable cannot hold",
                        path, jerr.line, jerr.column);
    if (!root)
        return lbox_err(err, LBOX_E_INVAL, "env file %s: %s (line %d, column %d)%s", path,
                        jerr.text, jerr.line, jerr.column,
                        strstr(jerr.text, "too big integer")
                            ? "; write a number beyond 64 bits as a string, \"123...\""
                            : "");
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
    json_object_foreach(root, k, v)
        if (!json_is_object(v)) {
            r = lbox_err(err, LBOX_E_INVAL,
                         "env file %s: \"%s\" is not an object, though other entries are: in "
                         "SAM's form every entry is {\"NAME\": \"value\", ...} (for "
                         "\"Parameters\" or a function); a flat file holds only "
                         "\"NAME\": \"value\" pairs",
                         path, k);
            goto out;
        }
    json_t *params = json_object_get(root, "Parameters");
    if (params && (r = add_object(params, path, user, err)) < 0)
        goto out;
    json_t *mine = json_object_get(root, function_name);
    if (mine)
        r = add_object(mine, path, user, err);
    if (!params && !mine && note)
        *note = nothing_for(root, path, function_name);
out:
    json_decref(root);
    return r;
}
