#include "args.h"

#include <stdio.h>

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
    struct lbox_error err = {0};
    if (lbox_runtime_check(runtime, &err) < 0) {
        lbox_print_error(cmd, &err);
        return 2;
    }
    return 0;
}
