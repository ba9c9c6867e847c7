'use strict';
// Finds the function named by _HANDLER ("dir/file.export.path") under the task root.
// File lookup order: <p> (no extension, CommonJS), <p>.js (CommonJS unless the nearest
// package.json says "type": "module", then ES module), <p>.mjs, <p>.cjs, and finally Node's
// own resolution from the task root and the module root (node_modules and NODE_PATH).
// ES modules are awaited, so top-level await finishes before the first invoke.

const path = require('path');
const { binding } = require('./bindings.js');

// The Runtime.* error classes, loaded only when one is thrown (not on a good cold start).
const errors = () => require('./errors.js');

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

function splitHandler(full) {
  if (full.includes('..')) {
    const { MalformedHandlerName } = errors();
    throw new MalformedHandlerName(`'${full}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`);
  }
  const base = path.basename(full);
  const moduleRoot = full.substring(0, full.indexOf(base));
  const m = base.match(/^([^.]*)\.(.*)$/);
  if (!m) {
    const { MalformedHandlerName } = errors();
    throw new MalformedHandlerName('Bad handler');
  }
  return { moduleRoot, moduleName: m[1], exportPath: m[2] };
}

// fs.existsSync, but through the stat Node's module loader uses: the first require('fs')
// from outside Node's core also loads fs/promises and the stream classes, about 5 ms of a
// cold start under the bootstrap's V8 flags.
const fsBinding = binding('fs');
function exists(file) {
  if (fsBinding && typeof fsBinding.internalModuleStat === 'function') {
    return fsBinding.internalModuleStat(path.toNamespacedPath(file)) >= 0; // 0 file, 1 directory
  }
  return require('fs').existsSync(file);
}

// Function code is required as if from Lambda's own runtime file, /var/runtime/index.mjs
// (index.js on nodejs14.x): a "Require stack" then ends as Lambda's does ("- /var/task/app.js
// - /var/runtime/index.mjs"), not with this client's files.
const RUNTIME_ENTRY = path.join(__dirname, '..',
  Number(process.versions.node.split('.')[0]) >= 16 ? 'index.mjs' : 'index.js');
const userRequire = require('module').createRequire(RUNTIME_ENTRY);

function requireIfExists(file) {
  return exists(file) ? userRequire(file) : undefined;
}

async function importIfExists(file) {
  return exists(file) ? import(file) : undefined;
}

// Walks up from dir to the nearest package.json; a node_modules folder ends the walk.
function folderIsModuleType(dir) {
  if (dir.endsWith('/node_modules')) return false;
  const pj = path.join(dir, '/package.json');
  if (exists(pj)) {
    try {
      const pkg = JSON.parse(require('fs').readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (dir === '/') return false;
  return folderIsModuleType(path.resolve(dir, '..'));
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = requireIfExists(base);
  if (extensionless) return extensionless;

  const jsIsModule = exists(base + '.js') && folderIsModuleType(path.dirname(base + '.js'));
  if (!jsIsModule) {
    const cjs = requireIfExists(base + '.js');
    if (cjs) return cjs;
  }
  const found = (jsIsModule && await importIfExists(base + '.js'))
    || await importIfExists(base + '.mjs')
    || requireIfExists(base + '.cjs');
  if (found) return found;

  return userRequire(userRequire.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

// awslambda.HttpResponseStream.from(stream, {statusCode, headers, cookies}): for function
// URLs the body starts with a JSON prelude and 8 NUL bytes before the payload.
class HttpResponseStream {
  static from(stream, prelude) {
    stream.setContentType('application/vnd.awslambda.http-integration-response');
    const head = JSON.stringify(prelude);
    stream._onBeforeFirstWrite = (write) => {
      write(head);
      write(new Uint8Array(8));
    };
    return stream;
  }
}

function installGlobals() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  globalThis.awslambda = {
    streamifyResponse(handler, options) {
      handler[STREAMING] = STREAM_RESPONSE;
      if (options && typeof options.highWaterMark === 'number') {
        handler[HIGH_WATER_MARK] = parseInt(options.highWaterMark);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

// Resolves to the handler function or rejects with the Runtime.* error Lambda reports.
async function loadHandler(appRoot, fullHandler) {
  const { moduleRoot, moduleName, exportPath } = splitHandler(fullHandler);
  installGlobals();
  let mod;
  try {
    mod = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    const { UserCodeSyntaxError, ImportModuleError } = errors();
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    // Reading .code of a thrown null/undefined throws a TypeError here, as in AWS's client.
    if (e.code !== undefined && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const fn = exportPath.split('.').reduce((obj, key) => obj && obj[key], mod);
  if (typeof fn !== 'function') {
    const { HandlerNotFound } = errors();
    throw new HandlerNotFound(fn ? `${fullHandler} is not a function` : `${fullHandler} is undefined or not exported`);
  }
  return fn;
}

function handlerMetadata(fn) {
  const mode = fn[STREAMING];
  let streaming = false;
  if (mode !== undefined && mode !== null && mode !== false) {
    if (mode !== STREAM_RESPONSE) {
      const { MalformedStreamingHandler } = errors();
      throw new MalformedStreamingHandler('Only response streaming is supported.');
    }
    streaming = true;
  }
  const hwm = parseInt(fn[HIGH_WATER_MARK]);
  return { streaming, highWaterMark: Number.isNaN(hwm) ? undefined : hwm };
}

module.exports = { loadHandler, handlerMetadata, RUNTIME_ENTRY };
