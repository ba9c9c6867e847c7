/* The environment a function sees, built as Lambda builds it (reference §5.2): the image's
 * Env, then the user's variables, then the platform's reserved ones, which the user cannot
 * override. Nothing else from the host's environment gets in, except AWS credentials and the
 * region when the caller has them set. */
#ifndef LBOX_RUNNER_ENV_VARS_H
#define LBOX_RUNNER_ENV_VARS_H

#include <stddef.h>

#include "common/error.h"

/* An ordered list of "NAME=value" strings with set-or-replace semantics. */
struct lbox_strv {
    char **v;   /* NULL-terminated */
    size_t n;
};

void lbox_strv_set(struct lbox_strv *l, const char *name, const char *value);
/* value of NAME or NULL */
const char *lbox_strv_get(const struct lbox_strv *l, const char *name);
void lbox_strv_free(struct lbox_strv *l);

/* Checks one user variable like Lambda's API does: the name pattern [a-zA-Z][a-zA-Z0-9_]+
 * (lbox_env_check_user_name) and not a reserved name. */
int lbox_env_check_user_name(const char *name, struct lbox_error *err);
int lbox_env_check_user_var(const char *name, struct lbox_error *err);
/* Splits "NAME=value" text from --env, checking its form only: an '=' and a valid name
 * (a reserved name passes). *name is allocated; *value points into arg. */
int lbox_env_parse_user_arg(const char *arg, char **name, const char **value,
                            struct lbox_error *err);
/* Adds "NAME=value" text from --env (validated, reserved names refused). */
int lbox_env_add_user_arg(struct lbox_strv *user, const char *arg, struct lbox_error *err);

/* A function name as Lambda's CreateFunction accepts it: 1 to 64 of [a-zA-Z0-9-_]. */
int lbox_env_check_function_name(const char *name, struct lbox_error *err);
/* Lambda's 4 KB limit on the user's variables, names and values together. */
int lbox_env_check_user_size(const struct lbox_strv *user, struct lbox_error *err);

struct lbox_env_settings {
    const char *function_name;
    const char *function_version;   /* "$LATEST" */
    const char *handler;
    unsigned memory_mb;
    const char *const *image_env;   /* "K=V" from the image config, NULL-terminated, may be NULL */
    const struct lbox_strv *user;   /* validated user variables */
    const char *const *caller_env;  /* the caller's environ (only AWS_* credentials/region used) */
    const char *runtime_api;        /* "127.0.0.1:9001" */
    const char *initialization_type;/* "on-demand" */
};

/* The region the function runs in: the caller's AWS_REGION, else AWS_DEFAULT_REGION, else
 * us-east-1. */
const char *lbox_env_region(const char *const *caller_env);
/* The runtime version ARN of INIT_START: arn:aws:lambda:REGION::runtime:BUILD (malloc'd), or
 * NULL when the image's runtime build is not known (build NULL). */
char *lbox_env_runtime_arn(const char *region, const char *build);

/* Builds the runtime's environment. */
int lbox_env_build(const struct lbox_env_settings *s, struct lbox_strv *out,
                   struct lbox_error *err);

/* Extensions get the same minus internal ("_"-prefixed) names and AWS_XRAY_CONTEXT_MISSING. */
void lbox_env_for_extensions(const struct lbox_strv *runtime_env, struct lbox_strv *out);

#endif
