'use strict';
// The per-invoke `context` object: data from the environment and from the GET next
// headers, plus the completion functions (callback, succeed, fail, done) and the
// callbackWaitsForEmptyEventLoop switch.

// What to do when the event loop drains ('beforeExit'): post a waiting callback result, or
// answer null for a handler that never completed. Stored on the global object under a
// registered symbol so that every copy of the runtime code shares the one hook.
const HOOK = Symbol.for('aws.lambda.beforeExit');
const nothing = () => {};
const exitHook = {
  run: () => global[HOOK](),
  clear: () => { global[HOOK] = nothing; },
  set: (fn) => { global[HOOK] = fn; },
};

const HEADER = {
  requestId: 'lambda-runtime-aws-request-id',
  deadline: 'lambda-runtime-deadline-ms',
  arn: 'lambda-runtime-invoked-function-arn',
  trace: 'lambda-runtime-trace-id',
  clientContext: 'lambda-runtime-client-context',
  identity: 'lambda-runtime-cognito-identity',
  tenantId: 'lambda-runtime-aws-tenant-id',
};

function lowerCaseKeys(headers) {
  const out = {};
  for (const k of Object.keys(headers)) out[k.toLowerCase()] = headers[k];
  return out;
}

function parseHeaderJson(value, name) {
  // An empty header is the same as an absent one (the platform omits empty values).
  if (value === undefined || value === '') return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

class InvokeHeaders {
  constructor(headers) {
    this.headers = lowerCaseKeys(headers);
  }

  get requestId() {
    const id = this.headers[HEADER.requestId];
    if (!id) throw new Error('invocation id is missing or invalid');
    return id;
  }

  get tenantId() {
    return this.headers[HEADER.tenantId];
  }

  // Fills the user-visible fields into `context` (which already holds the completion
  // functions) and exports the X-Ray trace id for SDKs. Throws on malformed JSON headers.
  attachTo(context) {
    const h = this.headers;
    if (h[HEADER.trace]) process.env._X_AMZN_TRACE_ID = h[HEADER.trace];
    else delete process.env._X_AMZN_TRACE_ID;
    const deadline = h[HEADER.deadline];
    return Object.assign(context, {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    }, {
      clientContext: parseHeaderJson(h[HEADER.clientContext], 'ClientContext'),
      identity: parseHeaderJson(h[HEADER.identity], 'CognitoIdentity'),
      invokedFunctionArn: h[HEADER.arn],
      awsRequestId: h[HEADER.requestId],
      tenantId: h[HEADER.tenantId],
      getRemainingTimeInMillis() { return deadline - Date.now(); },
    });
  }
}

// Builds [callback, context, markCompleted] for one buffered invoke.
// - callback(err, result): an error is posted at once; a result is posted at once when
//   callbackWaitsForEmptyEventLoop is false, else when the event loop has drained.
// - succeed/fail/done post at once. Only the first of all of these counts.
// onNext is called once the answer has been delivered, to fetch the next event.
function completionFunctions(api, requestId, logError, onNext) {
  let reported = false;
  let waitForEmptyLoop = true;

  const postError = (err, cb) => {
    logError('Invoke Error', err);
    api.postInvocationError(err, requestId, cb);
  };
  const complete = (result, cb) => {
    if (reported) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    reported = true;
    api.postInvocationResponse(result, requestId, cb);
  };

  const callback = (err, result) => {
    exitHook.clear();
    if (err !== undefined && err !== null) {
      postError(err, onNext);
    } else if (!waitForEmptyLoop) {
      complete(result, onNext);
    } else {
      exitHook.set(() => setImmediate(() => complete(result, onNext)));
    }
  };
  const done = (err, result) => {
    exitHook.clear();
    if (err !== undefined && err !== null) postError(err, onNext);
    else complete(result, onNext);
  };

  // First call wins. The flag is set after the call returns, so a completion that threw
  // (an unserializable result) leaves room for the error to be reported.
  let finished = false;
  const once = (fn) => function firstOnly() {
    if (finished) return;
    fn.apply(null, arguments);
    finished = true;
  };

  const context = {
    get callbackWaitsForEmptyEventLoop() { return waitForEmptyLoop; },
    set callbackWaitsForEmptyEventLoop(value) { waitForEmptyLoop = value; },
    succeed: once((result) => done(null, result)),
    fail: once((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: once(done),
  };
  return [once(callback), context, () => { reported = true; }];
}

module.exports = { InvokeHeaders, completionFunctions, exitHook };
