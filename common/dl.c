#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>

int lbox_dl_load(const char *soname, const struct lbox_dl_symbol *want, size_t n,
                 char *failure, size_t size)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(failure, size, "%s", dlerror());
        return -1;
    }
    /* POSIX (dlsym) guarantees that a function's address survives the trip through void *. */
    for (size_t i = 0; i < n; i++)
        if (!(*want[i].slot = dlsym(h, want[i].name))) {
            snprintf(failure, size, "%s has no %s", soname, want[i].name);
            return -1;
        }
    return 0;
}
