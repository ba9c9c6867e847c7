'use strict';
// Error types the runtime reports and the shapes in which errors leave the process: the
// JSON body posted to the Runtime API, the X-Ray cause header, and the log rendering.
// The names, field names and field order are an interface: invokers and log parsers
// written against AWS's runtime read them.
// Loaded only when an error has to be built or reported: a cold start that succeeds
// never pays for this file (nor for 'util').

const DEL = /\x7F/g;

class RuntimeError extends Error {}

function defineRuntimeError(shortName) {
  const cls = class extends RuntimeError {};
  Object.defineProperty(cls, 'name', { value: shortName });
  cls.prototype.name = 'Runtime.' + shortName;
  return cls;
}

const ImportModuleError = defineRuntimeError('ImportModuleError');
const HandlerNotFound = defineRuntimeError('HandlerNotFound');
const MalformedHandlerName = defineRuntimeError('MalformedHandlerName');
const UserCodeSyntaxError = defineRuntimeError('UserCodeSyntaxError');
const MalformedStreamingHandler = defineRuntimeError('MalformedStreamingHandler');
const InvalidStreamingOperation = defineRuntimeError('InvalidStreamingOperation');

class UnhandledPromiseRejection extends RuntimeError {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
Object.defineProperty(UnhandledPromiseRejection, 'name', { value: 'UnhandledPromiseRejection' });
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

// Duck-typed so errors from another realm (vm contexts) or hand-made objects still count.
function looksLikeError(v) {
  return Boolean(v && v.name && v.message && v.stack &&
    typeof v.name === 'string' && typeof v.message === 'string' && typeof v.stack === 'string');
}

// The body of POST .../error: {errorType, errorMessage, trace}. Values that are not errors
// (callback('oops'), throw 42) report their typeof and their string form.
function toRapidResponse(error) {
  const { isNativeError } = require('util').types;
  try {
    if (isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: error.name == null ? undefined : error.name.replace(DEL, '%7F'),
        errorMessage: error.message == null ? undefined : error.message.replace(DEL, '%7F'),
        trace: error.stack.replace(DEL, '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function intoError(value) {
  return value instanceof Error ? value : new Error(value);
}

function errorWithOwnProperties(value) {
  if (!(value instanceof Error)) return value;
  const out = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
  if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
  return out;
}

// The text-log rendering of an error: a tab, then JSON with the error's own enumerable
// properties (so `code`, `$metadata` etc. of SDK errors are visible in the logs).
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => errorWithOwnProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// The X-Ray "cause" document sent alongside an invocation error: one exception with its
// parsed stack frames, and the set of source paths they mention.
function xrayCause(err) {
  try {
    const frames = [];
    if (err.stack) {
      const lines = err.stack.replace(DEL, '%7F').split('\n');
      lines.shift();
      for (const raw of lines) {
        let line = raw.trim().replace(/\(|\)/g, '');
        line = line.substring(line.indexOf(' ') + 1);
        const cut = line.lastIndexOf(' ');
        const label = cut >= 0 ? line.slice(0, cut) : null;
        const where = (label == null || label.length === 0 ? line : line.slice(cut + 1)).split(':');
        frames.push({ path: where[0], line: parseInt(where[1]), label: label || 'anonymous' });
      }
    }
    const cause = {
      working_directory: process.cwd(),
      exceptions: [{
        type: err.name == null ? undefined : err.name.replace(DEL, '%7F'),
        message: err.message == null ? undefined : err.message.replace(DEL, '%7F'),
        stack: frames,
      }],
      paths: Array.from(new Set(frames.map((f) => f.path))),
    };
    return JSON.stringify(cause);
  } catch (_) {
    return '';
  }
}

module.exports = {
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  MalformedStreamingHandler,
  InvalidStreamingOperation,
  UnhandledPromiseRejection,
  toRapidResponse,
  toFormatted,
  intoError,
  xrayCause,
};
