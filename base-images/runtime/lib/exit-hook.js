'use strict';
// What to do when the event loop drains ('beforeExit'): post a waiting callback result, or
// answer null for a handler that never completed. Stored on the global object under a
// registered symbol so that every copy of the runtime code shares the one hook.

const HOOK = Symbol.for('aws.lambda.beforeExit');
const nothing = () => {};

module.exports = {
  run: () => global[HOOK](),
  clear: () => { global[HOOK] = nothing; },
  set: (fn) => { global[HOOK] = fn; },
};
