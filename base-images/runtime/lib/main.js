'use strict';
// lbox's Lambda runtime client for Node.js 14, 16 and 18 (CommonJS, no native code).
// Started by ../bootstrap: `node ... /var/runtime/lib/main.js` (nodejs16.x and 18.x) or
// through ../index.js (nodejs14.x). It loads the function named by _HANDLER from
// LAMBDA_TASK_ROOT and serves invokes from the Runtime API at AWS_LAMBDA_RUNTIME_API, with
// the observable behaviour of AWS's Node.js runtime client.

//
// Cold start matters here: only what a successful buffered invoke needs is required up
// front; error reporting, streaming, 'util' and the like load when first used.

const { patchConsole, silenceConsole } = require('./logging.js');
const { RuntimeApi } = require('./runtime-api.js');
const { loadHandler, handlerMetadata, RUNTIME_ENTRY } = require('./handler-loader.js');
const { InvokeLoop } = require('./invoke-loop.js');
const { exitHook } = require('./invoke-context.js');

// Lambda's nodejs16.x and 18.x start /var/runtime/index.mjs, an ES module: a function there
// has no main module (require.main is undefined) and sees that file as argv[1]. This client
// stays CommonJS (an ES module entry costs node 18 about 10 ms more at start), and shows the
// function what Lambda's shows. Images of those runtimes have no /var/runtime/index.js,
// which Node's resolution of a missing handler module 'index' would find through NODE_PATH.
if (RUNTIME_ENTRY.endsWith('.mjs')) {
  process.argv[1] = RUNTIME_ENTRY;
  process.mainModule = undefined;
}

function main() {
  const logError = patchConsole();
  // _LBOX_RUNTIME_TRANSPORT=http: Node's 'http' for every Runtime API request (the tests
  // run both ways). Like _LAMBDA_TELEMETRY_LOG_FD, it is the runtime's, not the function's.
  const transport = process.env._LBOX_RUNTIME_TRANSPORT;
  delete process.env._LBOX_RUNTIME_TRANSPORT;
  const api = new RuntimeApi(process.env.AWS_LAMBDA_RUNTIME_API, { transport });

  // Until the first invoke, a crash is an init error; the loop re-points these per invoke.
  // The first fatal error wins: the process exits as soon as it is reported, and, as
  // under AWS's client (which exits at once), nothing logged meanwhile is shown.
  let dying = false;
  const fatal = {
    uncaughtException: (err) => api.postInitError(err, () => process.exit(129)),
    unhandledRejection: (err) => api.postInitError(err, () => process.exit(128)),
  };
  process.on('uncaughtException', (err) => {
    if (dying) return;
    dying = true;
    logError('Uncaught Exception', err);
    silenceConsole();
    fatal.uncaughtException(err);
  });
  process.on('unhandledRejection', (reason, promise) => {
    if (dying) return;
    dying = true;
    const { UnhandledPromiseRejection } = require('./errors.js');
    const err = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', err);
    silenceConsole();
    fatal.unhandledRejection(err);
  });
  exitHook.clear();
  process.on('beforeExit', exitHook.run);

  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  loadHandler(appRoot, process.env._HANDLER || '')
    .then((handler) => {
      new InvokeLoop(api, handler, handlerMetadata(handler), fatal, logError).scheduleNext();
    })
    .catch((err) => process.emit('uncaughtException', err));
}

main();
