/* Skipping a unit test that cannot run on this machine (not root, a tool missing).
 *
 * A skipped test still lets its program pass, so `make test` (as root, after
 * scripts/install-deps.sh, where every unit test can run) sets LBOX_TEST_NO_SKIP=1, and
 * there a skip fails instead: a green run never hides a test that did not run. */
#ifndef LBOX_TEST_SKIP_UNLESS_H
#define LBOX_TEST_SKIP_UNLESS_H

#include <stdlib.h>

#define SKIP_UNLESS(cond, why)                                                             \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            if (getenv("LBOX_TEST_NO_SKIP"))                                               \
                fail_msg("this test cannot run here (%s), and LBOX_TEST_NO_SKIP is set",   \
                         why);                                                             \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

#endif
