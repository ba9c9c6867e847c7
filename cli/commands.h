/* One function per subcommand (git's builtin/ style): each parses its own flags, calls the
 * libraries, prints, and returns the process exit code. */
#ifndef LBOX_COMMANDS_H
#define LBOX_COMMANDS_H

int cmd_build(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_invoke(int argc, char **argv);
int cmd_matrix(int argc, char **argv);
int cmd_binfmt(int argc, char **argv);

#endif
