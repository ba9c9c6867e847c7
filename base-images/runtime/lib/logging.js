'use strict';
// Replaces console.* with Lambda's log records. Text records are
//   <ISO time>\t<request id>\t<LEVEL>\t<util.format(...)>
// with inner newlines turned into \r so one call stays one line; JSON records (when
// AWS_LAMBDA_LOG_FORMAT=JSON) are {timestamp, level, requestId[, tenantId], message, ...}.
// AWS_LAMBDA_LOG_LEVEL turns the methods below it into no-ops (console.fatal always logs).
// When the platform hands us _LAMBDA_TELEMETRY_LOG_FD, records go to that fd in its
// binary framing instead of stdout.
// Not required at start-up, as each costs a cold start milliseconds: 'util' (with the
// first record that needs formatting) and ./errors (with the first error the runtime
// reports). The public 'fs' is not required at all where Node's fs binding can write
// (see fdWriter).

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1, mask: 0b00100 },
  DEBUG: { name: 'DEBUG', priority: 2, mask: 0b01000 },
  INFO: { name: 'INFO', priority: 3, mask: 0b01100 },
  WARN: { name: 'WARN', priority: 4, mask: 0b10000 },
  ERROR: { name: 'ERROR', priority: 5, mask: 0b10100 },
  FATAL: { name: 'FATAL', priority: 6, mask: 0b11000 },
});
const FRAME_TEXT = 0xa55a0003;
const FRAME_JSON = 0xa55a0002;

// Kept on the global object (under registered symbols) so that a second copy of the
// logging code, e.g. one bundled into user code, sees the same request id.
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');

function setRequestContext(requestId, tenantId) {
  global[REQUEST_ID] = requestId;
  global[TENANT_ID] = tenantId;
}

// util.format, loaded with the first log record that needs formatting: a lone string is
// returned as is by util.format (no % escapes are processed), so it needs none.
function format(params) {
  if (params.length === 1 && typeof params[0] === 'string') return params[0];
  const util = require('util');
  return util.format.apply(util, params);
}

function errorForJson(_key, value) {
  if (!(value instanceof Error)) return value;
  const ctorName = value.constructor == null ? undefined : value.constructor.name;
  return Object.assign({
    errorType: ctorName == null ? 'UnknownError' : ctorName,
    errorMessage: value.message,
    stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
  }, value);
}

function jsonRecord(time, level, params) {
  const record = { timestamp: time, level: level.name, requestId: global[REQUEST_ID] };
  const tenantId = global[TENANT_ID];
  if (tenantId != null) record.tenantId = tenantId;
  if (params.length === 1) {
    // A single argument is embedded as a value, so objects stay searchable as JSON.
    record.message = params[0];
    try {
      return JSON.stringify(record, errorForJson);
    } catch (_) {
      record.message = format([record.message]);
      return JSON.stringify(record);
    }
  }
  record.message = format(params);
  const err = params.find((p) => p instanceof Error);
  if (err) {
    const ctorName = err.constructor == null ? undefined : err.constructor.name;
    record.errorType = ctorName == null ? 'UnknownError' : ctorName;
    record.errorMessage = err.message;
    record.stackTrace = typeof err.stack === 'string' ? err.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

function textRecord(time, level, params) {
  return time + '\t' + global[REQUEST_ID] + '\t' + level.name + '\t' + format(params);
}

function stdoutSink(render) {
  return (level, params) => {
    const line = render(new Date().toISOString(), level, params).replace(/\n/g, '\r');
    process.stdout.write(line + '\n');
  };
}

// A synchronous write of a whole buffer to fd. Through Node's fs binding where Node 14-18
// have it: a first require('fs') from outside Node's internals builds the module's public
// face, fs/promises and the stream classes included, 10 ms of a cold start under the
// bootstrap's flags. Else fs.writeSync. Returns false when the fd cannot be written.
function fdWriter(fd) {
  const { binding } = require('./bindings.js');
  const fsb = binding('fs');
  if (fsb && typeof fsb.writeBuffer === 'function') {
    return (buf) => {
      for (let off = 0; off < buf.length;) {
        const ctx = {};
        const n = fsb.writeBuffer(fd, buf, off, buf.length - off, null, undefined, ctx);
        if (ctx.errno !== undefined) return false;
        off += n;
      }
      return true;
    };
  }
  const fs = require('fs');
  return (buf) => {
    try {
      for (let off = 0; off < buf.length;) off += fs.writeSync(fd, buf, off);
      return true;
    } catch (_) {
      return false;
    }
  };
}

// Frame: 4-byte type|level, 4-byte length, 8-byte timestamp in microseconds, message; one
// write per record, so the reader never sees half of one for long. Should the fd fail (the
// function closed it), records go to stdout from then on rather than nowhere.
function fdSink(fd, render, frameType, newline) {
  let write = null;
  let fallback = null;
  return (level, params) => {
    if (fallback) return fallback(level, params);
    if (!write) write = fdWriter(fd);
    const now = new Date();
    const text = render(now.toISOString(), level, params) + newline;
    const size = Buffer.byteLength(text, 'utf8');
    const frame = Buffer.allocUnsafe(16 + size);
    frame.writeUInt32BE((frameType | level.mask) >>> 0, 0);
    frame.writeInt32BE(size, 4);
    frame.writeBigInt64BE(BigInt(now.valueOf()) * 1000n, 8);
    frame.write(text, 16, 'utf8');
    if (!write(frame)) {
      fallback = stdoutSink(render);
      fallback(level, params);
    }
  };
}

// After a fatal error AWS's client posts it and exits before any other JavaScript runs (its
// POST blocks, in a native add-on); this one's POST takes a turn of the event loop, in which
// the function's timers may still fire. What they log would never exist on Lambda.
let silenced = false;
function silenceConsole() {
  silenced = true;
}

// Patches console and returns logError(label, err): how the runtime itself reports an
// error it is about to post ("Invoke Error", "Uncaught Exception", ...).
function patchConsole() {
  // Lambda's JSON logs and log levels start with nodejs16.x: nodejs14.x's client predates
  // them and writes text records of every level whatever these variables say.
  const controls = Number(process.versions.node.split('.')[0]) >= 16;
  const json = controls && String(process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const threshold = (controls && LEVELS[String(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()]) || LEVELS.TRACE;
  const render = json ? jsonRecord : textRecord;

  let sink;
  const fdVar = process.env._LAMBDA_TELEMETRY_LOG_FD;
  if (fdVar != null) {
    delete process.env._LAMBDA_TELEMETRY_LOG_FD;
    sink = json ? fdSink(parseInt(fdVar), render, FRAME_JSON, '') : fdSink(parseInt(fdVar), render, FRAME_TEXT, '\n');
  } else {
    sink = stdoutSink(render);
  }

  // The first argument is always passed on, so console.log() logs "undefined" as AWS's does.
  const method = (level) => (level.priority >= threshold.priority
    ? (msg, ...rest) => { if (!silenced) sink(level, [msg].concat(rest)); }
    : () => {});
  console.trace = method(LEVELS.TRACE);
  console.debug = method(LEVELS.DEBUG);
  console.info = method(LEVELS.INFO);
  console.log = console.info;
  console.warn = method(LEVELS.WARN);
  console.error = method(LEVELS.ERROR);
  console.fatal = (msg, ...rest) => { if (!silenced) sink(LEVELS.FATAL, [msg].concat(rest)); };

  return json
    ? (_label, err) => console.error(require('./errors.js').intoError(err))
    : (label, err) => {
      const { intoError, toFormatted } = require('./errors.js');
      console.error(label, toFormatted(intoError(err)));
    };
}

module.exports = { patchConsole, silenceConsole, setRequestContext };
