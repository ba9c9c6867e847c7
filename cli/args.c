#include "args.h"

#include <stdio.h>
#include <string.h>

#include "builder/recipe.h"
#include "output.h"

int lbox_cli_check_target(const char *cmd, const char *runtime, const char *arch)
{
    if (arch && !lbox_arch_canonical(arch)) {
        fprintf(stderr, "lbox %s: unknown architecture '%s': use x86_64 (or amd64) or arm64 "
                "(or aarch64)\n", cmd, arch);
        return 2;
    }
    if (!runtime)
        return 0;
    /* The recipe loader owns the list of runtimes: it refuses a name it does not know, with
     * a message naming the known ones, before it reads any file. */
    struct lbox_recipe r;
    struct lbox_error err = {0};
    if (lbox_recipe_load(runtime, arch ? arch : lbox_arch_host(), &r, &err) == 0) {
        lbox_recipe_free(&r);
        return 0;
    }
    if (err.code == LBOX_E_INVAL && !strncmp(err.msg, "unknown runtime", 15)) {
        lbox_print_error(cmd, &err);
        return 2;
    }
    return 0;
}
