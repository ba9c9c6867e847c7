/* Function code and layers: `--code` into /var/task, each `--layer` into /opt.
 *
 * A source is either a directory or a Lambda .zip deployment package. Lambda only takes zips,
 * so nothing else is read as an archive; the zip is read through its central directory (as
 * unzip does), which makes a truncated file fail before anything is written, and its local
 * headers are cross-checked against it (a damaged central directory would drop files).
 *
 * Safety. Every input is treated as hostile. Work happens in two passes: the first reads
 * only names, types, sizes and symlink targets and refuses, before one byte is written:
 *   - names that are absolute, contain a `..` component, or are too long (libarchive reads
 *     a `\` as a separator, as zips made on Windows mean it);
 *   - entry types Lambda cannot hold: devices, fifos, sockets, hardlink entries;
 *   - symlinks whose target, resolved like the kernel would from the link's own directory
 *     (following symlinks of this input and of what is already in dest), leaves the root.
 *     That directory is where the writer really puts the link: an entry's parent path is
 *     followed through the links that exist when it is written (with `d -> .`, "d/d/x" is
 *     written as "x"), so every entry is first placed, in order, as the writer will, and
 *     a parent path that leads outside is refused here. The root is the directory the input lands in, known inside the image by root_label
 *     ("/var/task" or "/opt"). An absolute target counts as inside when it names a path
 *     under root_label (it is then resolved inside dest), or a plain downward path under the
 *     other code root ("/opt/..." from code, "/var/task/..." from a layer): that lands in the
 *     image's read-only code area and cannot be checked further from here;
 *   - the symlinks already in dest (an earlier input's), judged again by the same rule in the
 *     tree this input leaves: replacing or adding a name such a link goes through changes
 *     where it leads (an empty directory b made a link b -> . sends an earlier lnk -> b/..
 *     out of the root). So once the last input is in, every link of the finished tree has
 *     been judged where it finally stands;
 *   - names Lambda's image could not carry as given: not valid UTF-8 (a layer's tar holds
 *     UTF-8 names; zips made with a legacy code page, e.g. CP437, store raw bytes), or a
 *     component starting with ".wh." (an OCI whiteout: unpacking the image would delete files
 *     instead of creating this one; Docker refuses such names too);
 *   - trees deeper than LBOX_CODE_MAX_DEPTH directories below / in the image;
 *   - declared sizes that would push the shared budget over its limit, and more directories
 *     and symlinks (those the input lists and those its paths imply) than the budget allows.
 * The second pass writes through openat2(RESOLVE_BENEATH) so that no write can leave dest
 * even if the first pass were fooled, counts the bytes really produced (a zip that lies about
 * its sizes stops as soon as the budget is passed), and never writes through an existing
 * symlink: a later input replaces files, symlinks and empty-directory clashes of an earlier
 * one ("later layers win").
 *
 * Permissions, as Lambda does: the zip's Unix permission bits are kept (a 0600 file stays
 * unreadable for the function's user, exactly the EACCES Lambda gives; lint flags it),
 * except setuid/setgid/sticky and group/other write, which are dropped. Entries without Unix
 * bits (zips made on Windows) become 0644 files and 0755 directories. Directories the input
 * does not list are created 0755. Owners and times are not restored (the layer writer fixes
 * them). A directory source is copied with the same rules; a hardlinked file is copied as an
 * independent file; a special file is refused.
 *
 * On failure dest may hold part of the input: it is a staging directory the caller removes. */
#ifndef LBOX_CODE_H
#define LBOX_CODE_H

#include <stdint.h>

#include "../common/error.h"

/* Lambda's limit on the unzipped size of function code plus all layers. */
#define LBOX_CODE_LIMIT_BYTES (250ull * 1024 * 1024)

/* Lambda allows at most this many layers per function. */
#define LBOX_CODE_MAX_LAYERS 5

/* lbox's own cap on directories and symlinks, shared by the code and every layer. Lambda's
 * 250 MB counts file bytes only, yet each directory takes a 4 KB block on disk: a zip of
 * 500 paths 250 directories deep is 0.5 MB and would make 125,000 directories (500 MB).
 * Counting them in the 250 MB would refuse real packages Lambda takes (a 250 MB node_modules
 * holds about 10,000 directories, 40 MB at 4 KB), so they have this cap of their own, far
 * above real packages: at most 256 MB of directories next to the 250 MB of files. */
#define LBOX_CODE_MAX_DIRS 65536

/* lbox's own cap on files, for the same reason: each takes an inode and, unless empty, a
 * block, and 300,000 empty files (a 27 MB zip) count nothing in the 250 MB. Real packages
 * hold a few tens of thousands (Lambda's own node_modules here: about 16,000). */
#define LBOX_CODE_MAX_FILES 262144

/* Directory levels below / that a path in the image may have; lbox's lint walks no deeper,
 * and no real package comes near it. */
#define LBOX_CODE_MAX_DEPTH 256

/* What is installed so far, shared by the code and every layer. */
struct lbox_code_budget {
    uint64_t used;       /* bytes of regular-file content */
    uint64_t limit;      /* LBOX_CODE_LIMIT_BYTES; tests use smaller limits */
    uint64_t dirs;       /* directories and symlinks */
    uint64_t dirs_limit; /* LBOX_CODE_MAX_DIRS; tests use smaller limits */
    uint64_t files;       /* regular files */
    uint64_t files_limit; /* LBOX_CODE_MAX_FILES; tests use smaller limits */
};

#define LBOX_CODE_BUDGET_INIT                                                                  \
    { .used = 0, .limit = LBOX_CODE_LIMIT_BYTES, .dirs = 0, .dirs_limit = LBOX_CODE_MAX_DIRS,  \
      .files = 0, .files_limit = LBOX_CODE_MAX_FILES }

/* Installs `src` (directory or .zip) into the existing directory `dest`, known inside the
 * image as `root_label` ("/var/task" for code, "/opt" for layers; any absolute path works).
 * Adds the content bytes to budget->used, the directories and symlinks to budget->dirs,
 * the files to budget->files.
 * Errors: LBOX_E_ARCHIVE for unsafe or corrupt input (naming the entry and what to do),
 * LBOX_E_LIMIT when the budget is passed (message "function code and layers unzip to N MB,
 * over Lambda's 250 MB limit" naming src) or the tree is too deep or holds too many
 * directories, LBOX_E_NOTFOUND / LBOX_E_IO / LBOX_E_NOSPC for the file system. */
int lbox_code_install(const char *src, const char *dest, const char *root_label,
                      struct lbox_code_budget *budget, struct lbox_error *err);

/* The same, with messages naming `shown` instead of src: for a copy lbox made itself (the
 * code after npm install), which the user knows by another name. */
int lbox_code_install_as(const char *src, const char *shown, const char *dest,
                         const char *root_label, struct lbox_code_budget *budget,
                         struct lbox_error *err);

#endif
