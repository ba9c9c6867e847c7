// Buffered handlers in every completion style the runtime supports.
exports.asyncEcho = async (event) => ({ echo: event });
exports.promiseEcho = (event) => new Promise((resolve) => setTimeout(() => resolve({ echo: event }), 10));
exports.asyncUndefined = async () => undefined;
exports.syncNoCallback = () => 'ignored';
exports.neverSettles = () => new Promise(() => {});
exports.callbackWaits = (event, context, callback) => {
  const result = { n: 1 };
  setTimeout(() => { result.late = true; }, 30);
  callback(null, result);
};
exports.callbackNoWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  const result = { n: 1 };
  setTimeout(() => { result.late = true; }, 300);
  callback(null, result);
};
exports.callbackTwice = (event, context, callback) => {
  callback(null, 'first');
  callback(null, 'second');
  context.succeed('third');
};
exports.succeed = (event, context) => { setTimeout(() => {}, 300); context.succeed({ how: 'succeed' }); };
exports.done = (event, context) => context.done(null, { how: 'done' });
exports.doneError = (event, context) => context.done(new TypeError('done failed'));
exports.failEmpty = (event, context) => context.fail();
exports.failError = (event, context) => context.fail(new RangeError('fail failed'));
exports.lateAfterNull = (event, context) => {
  process.once('beforeExit', () => setImmediate(() => context.done(null, 'late')));
};
exports.circular = async () => { const o = {}; o.self = o; return o; };
exports.returnsFunction = async () => () => 1;
exports.returnsSymbol = async () => Symbol('s');
exports.throwsError = () => { throw new ReferenceError('x is not defined'); };
exports.throwsNumber = () => { throw 42; };
exports.rejectsString = async () => { throw 'oops'; };
exports.callbackString = (event, context, callback) => callback('oops');
exports.customError = async () => {
  class BudgetExhausted extends Error {}
  const e = new BudgetExhausted('no money');
  e.name = 'BudgetExhausted';
  e.code = 'E_BUDGET';
  throw e;
};
exports.badAccessError = async () => {
  const e = new Error('x');
  Object.defineProperty(e, 'stack', { get() { throw new Error('no stack'); } });
  throw e;
};
exports.uncaught = () => { setTimeout(() => { throw new Error('boom later'); }, 5); };
// Errors and a log after the first fatal one: AWS's client has exited by then.
exports.uncaughtTwice = async () => {
  setTimeout(() => { throw new Error('t1'); }, 10);
  setTimeout(() => { throw new Error('t2'); }, 11);
  setTimeout(() => console.log('t3 log'), 12);
  await new Promise((resolve) => setTimeout(resolve, 500));
};
exports.rejectTwice = async () => {
  Promise.reject(new Error('r1'));
  Promise.reject(new Error('r2'));
  await new Promise((resolve) => setTimeout(resolve, 500));
};
exports.unhandled = () => { Promise.reject(new Error('rejected later')); return new Promise(() => setTimeout(() => {}, 200)); };
exports.context = async (event, context) => ({
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  invokedFunctionArn: context.invokedFunctionArn,
  awsRequestId: context.awsRequestId,
  clientContext: context.clientContext === undefined ? 'undefined' : context.clientContext,
  identity: context.identity === undefined ? 'undefined' : context.identity,
  remainingPositive: context.getRemainingTimeInMillis() > 0,
  waits: context.callbackWaitsForEmptyEventLoop,
  trace: process.env._X_AMZN_TRACE_ID === undefined ? 'unset' : process.env._X_AMZN_TRACE_ID,
});
exports.logs = async (event) => {
  console.log('log', 'with', 2, 'args');
  console.info({ info: true });
  console.warn('line1\nline2');
  console.error('error %s', 'formatted');
  console.debug('debug');
  console.trace('trace');
  console.fatal('fatal');
  console.log(new Error('logged error'));
  console.log();
  return 'logged';
};
exports.nested = { deeper: { handler: async () => 'nested' } };
exports.notAFunction = 'just a string';
// Which of Node's networking and fs modules are loaded (by the first invoke, for the
// handler; run as a script, what bare node has loaded), and whether the runtime's own
// transport switch leaked into the function's environment.
const loadedModules = () => ['http', 'net', 'stream', 'fs/promises']
  .filter((m) => process.moduleLoadList.includes(`NativeModule ${m === 'fs/promises' ? 'internal/fs/promises' : m}`));
exports.loaded = async () => ({
  modules: loadedModules(),
  transportVar: process.env._LBOX_RUNTIME_TRANSPORT === undefined ? 'unset' : 'set',
});
// The same after a console record (through the telemetry fd when there is one).
exports.loggedLoaded = async () => {
  console.log('a record');
  return { modules: loadedModules() };
};
if (require.main === module) console.log(JSON.stringify(loadedModules()));
