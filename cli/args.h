/* Command-line checks shared by the subcommands that build (build, matrix). */
#ifndef LBOX_CLI_ARGS_H
#define LBOX_CLI_ARGS_H

/* Checks, before any work, that the builder knows `runtime` and `arch` (either may be NULL:
 * not checked). Returns 0, or prints "lbox <cmd>: unknown runtime|architecture 'X': use ..."
 * to stderr and returns 2 (bad command line). A known runtime whose recipe cannot be read
 * passes: the build reports that itself. */
int lbox_cli_check_target(const char *cmd, const char *runtime, const char *arch);

#endif
