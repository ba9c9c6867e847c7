'use strict';
// The invoke loop: GET next, run the handler with the event, let the completion functions
// post the answer, and start the next GET once the answer is delivered.

const { setRequestContext } = require('./logging.js');
const { InvokeHeaders, completionFunctions, exitHook } = require('./invoke-context.js');

function isThenable(v) {
  return Boolean(v && v.then && typeof v.then === 'function');
}

// Named Runtime because user stack traces show the receiver: "at Runtime.handler (...)",
// as they do under AWS's client.
class Runtime {
  // fatal: {uncaughtException(err), unhandledRejection(err)}, replaced per invoke so that a
  // crash is reported against the invoke that was running.
  constructor(api, handler, metadata, fatal, logError) {
    this.api = api;
    this.handler = handler;
    this.metadata = metadata;
    this.fatal = fatal;
    this.logError = logError;
  }

  scheduleNext() {
    setImmediate(() => {
      const once = this.metadata.streaming ? this.invokeStreaming() : this.invokeBuffered();
      once.catch((err) => {
        // Only a fault of the runtime itself (e.g. no request id) lands here.
        console.log(`Unexpected Top Level Error: ${err.toString()}`);
        this.fatal.uncaughtException(err);
      });
    });
  }

  reportFatalAgainst(requestId) {
    this.fatal.uncaughtException = (err) => this.api.postInvocationError(err, requestId, () => process.exit(129));
    this.fatal.unhandledRejection = (err) => this.api.postInvocationError(err, requestId, () => process.exit(128));
  }

  async invokeBuffered() {
    const { body, headers } = await this.api.nextInvocation();
    const invoke = new InvokeHeaders(headers);
    const requestId = invoke.requestId;
    setRequestContext(requestId, invoke.tenantId);
    const [callback, context, markCompleted] =
      completionFunctions(this.api, requestId, this.logError, () => this.scheduleNext());
    try {
      this.reportFatalAgainst(requestId);
      // A handler that neither returns a promise nor calls back answers null once the
      // event loop is empty (as is a promise that never settles: the 14/16/18-era rule).
      exitHook.set(() => {
        markCompleted();
        this.api.postInvocationResponse(null, requestId, () => this.scheduleNext());
      });
      // The event is parsed here, inside the try: a non-JSON event is an invoke error.
      const result = this.handler(JSON.parse(body), invoke.attachTo(context), callback);
      if (isThenable(result)) {
        result.then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  async invokeStreaming() {
    const { body, headers } = await this.api.nextInvocation();
    const invoke = new InvokeHeaders(headers);
    const requestId = invoke.requestId;
    setRequestContext(requestId, invoke.tenantId);

    let waitForEmptyLoop = true;
    const context = {
      get callbackWaitsForEmptyEventLoop() { return waitForEmptyLoop; },
      set callbackWaitsForEmptyEventLoop(value) { waitForEmptyLoop = value; },
    };
    const next = () => {
      exitHook.clear();
      if (!waitForEmptyLoop) this.scheduleNext();
      else exitHook.set(() => setImmediate(() => this.scheduleNext()));
    };
    const { request: stream, responseDone } =
      this.api.streamInvocationResponse(requestId, undefined, this.metadata.highWaterMark);
    const fail = (err) => {
      this.logError('Invoke Error', err);
      require('./response-stream.js').failStream(stream, err, next);
    };

    try {
      this.reportFatalAgainst(requestId);
      exitHook.set(() => this.scheduleNext());
      const ctx = invoke.attachTo(context);
      const event = JSON.parse(body);
      const pending = this.handler(event, stream, ctx);
      if (!isThenable(pending)) {
        fail('Streaming does not support non-async handlers.');
        return;
      }
      const result = await pending;
      if (typeof result !== 'undefined') console.warn('Streaming handlers ignore return values.');
      await responseDone;
      if (!stream.writableFinished) {
        fail('Response stream is not finished.');
        return;
      }
      next();
    } catch (err) {
      fail(err);
    }
  }
}

module.exports = { InvokeLoop: Runtime };
