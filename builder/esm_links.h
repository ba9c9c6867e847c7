/* /node_modules for runtimes whose import searches NODE_PATH, as Lambda's nodejs18.x does
 * ("The Node.js 18.x runtime for Lambda searches the folders listed in NODE_PATH when
 * loading ES modules": the AWS SDK it ships and layers' packages can be imported). Node.js
 * itself searches NODE_PATH for require() only. But both walk up from the importing file
 * through every parent's node_modules, and the last of them is /node_modules, for code
 * anywhere (/var/task, a layer's package): a link there per package, to the first
 * NODE_PATH folder that has it, lets import find what require finds, and leaves require's
 * answer as it was. */
#ifndef LBOX_ESM_LINKS_H
#define LBOX_ESM_LINKS_H

#include <stddef.h>

#include "../common/error.h"

/* Under `root` (a layer being staged), makes node_modules/<package> (and
 * node_modules/@scope/<package>) a link to /<dir>/<package> for each package in the
 * folders `dirs` (paths in the image, relative, as found under root; absent ones are
 * skipped), the first folder in the list winning for a name in several. Folders are
 * resolved inside root, links included (an absolute or `..` link stays in the image), so
 * no host directory is ever listed. A layer above
 * another replaces the links of the names it has. */
int lbox_esm_links(const char *root, const char *const *dirs, size_t ndirs,
                   struct lbox_error *err);

#endif
