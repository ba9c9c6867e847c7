'use strict';
// lbox's Lambda runtime client for Node.js 14, 16 and 18 (CommonJS, no native code).
// Started by ./bootstrap as `node ... /var/runtime/index.js`. It loads the function named
// by _HANDLER from LAMBDA_TASK_ROOT and serves invokes from the Runtime API at
// AWS_LAMBDA_RUNTIME_API, with the observable behaviour of AWS's Node.js runtime client.

//
// Cold start matters here: only what a successful buffered invoke needs is required up
// front; error reporting, streaming, 'util' and the like load when first used.

const { patchConsole } = require('./lib/logging.js');
const { RuntimeApi } = require('./lib/runtime-api.js');
const { loadHandler, handlerMetadata } = require('./lib/handler-loader.js');
const { InvokeLoop } = require('./lib/invoke-loop.js');
const { exitHook } = require('./lib/invoke-context.js');

function main() {
  const logError = patchConsole();
  // _LBOX_RUNTIME_TRANSPORT=http: Node's 'http' for every Runtime API request (the tests
  // run both ways). Like _LAMBDA_TELEMETRY_LOG_FD, it is the runtime's, not the function's.
  const transport = process.env._LBOX_RUNTIME_TRANSPORT;
  delete process.env._LBOX_RUNTIME_TRANSPORT;
  const api = new RuntimeApi(process.env.AWS_LAMBDA_RUNTIME_API, { transport });

  // Until the first invoke, a crash is an init error; the loop re-points these per invoke.
  // The first fatal error wins: the process exits as soon as it is reported.
  let dying = false;
  const fatal = {
    uncaughtException: (err) => api.postInitError(err, () => process.exit(129)),
    unhandledRejection: (err) => api.postInitError(err, () => process.exit(128)),
  };
  process.on('uncaughtException', (err) => {
    logError('Uncaught Exception', err);
    if (!dying) { dying = true; fatal.uncaughtException(err); }
  });
  process.on('unhandledRejection', (reason, promise) => {
    const { UnhandledPromiseRejection } = require('./lib/errors.js');
    const err = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', err);
    if (!dying) { dying = true; fatal.unhandledRejection(err); }
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
