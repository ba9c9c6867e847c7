'use strict';
// Response streaming: the handler writes into the body of a chunked POST .../response sent
// with "Lambda-Runtime-Function-Response-Mode: streaming". An error after the first byte can
// no longer change the status, so it travels in the trailers Lambda-Runtime-Function-Error-Type
// and Lambda-Runtime-Function-Error-Body (base64 of the error JSON).
// Loaded with the first streaming invoke (the awslambda global is in handler-loader.js).

const { InvalidStreamingOperation, toRapidResponse } = require('./errors.js');

const ERROR_TYPE_TRAILER = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';

// The handler sees a writable-only facade: it cannot read the platform's answer or touch
// the socket, only write, end and listen.
const METHODS = ['cork', 'destroy', 'end', 'uncork', 'write',
  'addListener', 'emit', 'eventNames', 'getMaxListeners', 'listenerCount', 'listeners', 'off',
  'on', 'once', 'prependListener', 'prependOnceListener', 'rawListeners', 'removeAllListeners',
  'removeListener', 'setMaxListeners', 'setContentType'];
const READ_WRITE = ['destroyed', 'writable', '_onBeforeFirstWrite'];
const READ_ONLY = ['writableFinished', 'writableObjectMode', 'writableBuffer', 'writableEnded',
  'writableNeedDrain', 'writableHighWaterMark', 'writableCorked', 'writableLength'];

const failers = new WeakMap();

function facade(inner) {
  const outer = {};
  for (const m of METHODS) outer[m] = inner[m].bind(inner);
  for (const p of READ_WRITE) {
    Object.defineProperty(outer, p, { get: () => inner[p], set: (v) => { inner[p] = v; }, enumerable: true });
  }
  for (const p of READ_ONLY) Object.defineProperty(outer, p, { get: () => inner[p], enumerable: true });
  return outer;
}

// makeRequest(headers, onResponse) must return an http.ClientRequest.
function createResponseStream(makeRequest, contentType) {
  let started = false;
  let resolveDone;
  let rejectDone;
  const responseDone = new Promise((resolve, reject) => { resolveDone = resolve; rejectDone = reject; });
  // Nobody has to await it (a handler may fail first); avoid an unhandled rejection.
  responseDone.catch(() => {});

  const req = makeRequest({
    'Lambda-Runtime-Function-Response-Mode': 'streaming',
    Trailer: [ERROR_TYPE_TRAILER, ERROR_BODY_TRAILER],
    'Content-Type': contentType || 'application/octet-stream',
  }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('aborted', (err) => { rejectDone(err); req.destroy(err); });
    res.on('end', () => resolveDone(Buffer.concat(chunks)));
  });
  req.on('error', (err) => { rejectDone(err); req.destroy(err); });

  req.setContentType = (type) => {
    if (started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    req.setHeader('Content-Type', type);
  };
  const rawWrite = req.write.bind(req);
  req.write = function write(chunk, encoding, callback) {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && (chunk == null ? undefined : chunk.constructor) !== Uint8Array) {
      chunk = JSON.stringify(chunk);
    }
    if (!started && typeof req._onBeforeFirstWrite === 'function') {
      req._onBeforeFirstWrite((c) => rawWrite(c));
    }
    started = true;
    return rawWrite(chunk, encoding, callback);
  };

  const request = facade(req);
  failers.set(request, (err, callback) => {
    const body = toRapidResponse(err);
    req.addTrailers({
      [ERROR_TYPE_TRAILER]: body.errorType,
      [ERROR_BODY_TRAILER]: Buffer.from(JSON.stringify(body)).toString('base64'),
    });
    req.end(callback);
  });
  return { request, responseDone };
}

function failStream(request, err, callback) {
  const fail = failers.get(request);
  if (typeof fail !== 'function') return false;
  fail(err, callback);
  return true;
}

module.exports = { createResponseStream, failStream };
