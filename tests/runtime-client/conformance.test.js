'use strict';
// Differential conformance: the same handlers and events through our client and through
// AWS's aws-lambda-ric 3.3.0 (LBOX_RIC_DIR), both under Node 18 (NODE18), against the same
// fake Runtime API. Posted bodies must be byte-equal and log lines equal once timestamps
// and request ids are normalised.
//
// Where the two must differ, the normalisation removes it, and says why:
// - stack frames and "Require stack" entries inside the runtime client itself name its
//   files (ours: base-images/runtime/*.js; AWS's: one bundled dist/index.mjs), so they
//   are dropped from traces, error messages and logged stacks; user frames must match;
// - request headers other than the protocol ones differ (AWS's client posts through its
//   native libcurl addon: its own User-Agent, an always-present X-Ray header), so only
//   Content-Type, Lambda-Runtime-Function-Error-Type, the response mode and the
//   trailers are compared.

const { describe, test } = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { runClient, HANDLERS } = require('./harness');

const node = process.env.NODE18;
const APP = path.join(HANDLERS, 'app');
const CRASH = path.join(HANDLERS, 'init-crash');

const RUNTIME_FILE = '(?:base-images/runtime/|aws-lambda-ric/|ric-launch\\.mjs|node:internal|\\(internal/|at internal/)';
const NORMALISERS = [
  // JSON string elements of a trace/stack array that are runtime frames.
  [new RegExp(`,"(?:    at |- )[^"]*${RUNTIME_FILE}[^"]*"`, 'g'), ''],
  // "Require stack" lines naming the runtime inside JSON-escaped messages.
  [new RegExp(`\\\\n- [^"\\\\]*${RUNTIME_FILE}[^"\\\\]*`, 'g'), ''],
  // Raw stacks in text log lines (newlines are \r there) and in messages.
  [new RegExp(`[\\r\\n]    at [^\\r\\n]*${RUNTIME_FILE}[^\\r\\n]*`, 'g'), ''],
  [/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>'],
  [/00000000-0000-4000-8000-\d{12}/g, '<request-id>'],
];

function normalise(text) {
  return NORMALISERS.reduce((t, [re, by]) => t.replace(re, by), text);
}

// The streamed error body is base64 JSON: decode it so its runtime frames can be dropped.
function trailers(t) {
  const out = Object.assign({}, t);
  const b64 = out['lambda-runtime-function-error-body'];
  if (b64) out['lambda-runtime-function-error-body'] = normalise(Buffer.from(b64, 'base64').toString('utf8'));
  return out;
}

function observed(r) {
  return {
    exit: r.code,
    posts: r.posts.map((p) => ({
      path: normalise(p.path),
      contentType: p.headers['content-type'],
      errorType: p.headers['lambda-runtime-function-error-type'],
      mode: p.headers['lambda-runtime-function-response-mode'],
      body: normalise(p.body.toString('latin1')),
      trailers: Object.keys(p.trailers).length ? trailers(p.trailers) : undefined,
    })),
    stdout: normalise(r.stdout).split('\n'),
    stderr: normalise(r.stderr),
  };
}

const cases = [];
const add = (name, opts) => cases.push([name, opts]);
for (const h of ['asyncEcho', 'promiseEcho', 'asyncUndefined', 'syncNoCallback', 'neverSettles', 'callbackWaits',
  'callbackNoWait', 'succeed', 'done', 'doneError', 'failEmpty', 'failError', 'circular',
  'throwsError', 'throwsNumber', 'rejectsString', 'callbackString', 'customError', 'badAccessError', 'logs',
  'nested.deeper.handler']) {
  // Two invokes: a log line printed after the answer is then surely out before the end.
  add(`basic.${h}`, { handler: `basic.${h}`, events: [{ k: 'v' }, { k: 'w' }] });
}
add('basic.callbackTwice, two invokes', { handler: 'basic.callbackTwice', events: [1, 2] });
add('context with client context and identity, then without trace id', {
  handler: 'basic.context',
  events: [
    { event: {}, headers: { 'Lambda-Runtime-Client-Context': '{"a":1}', 'Lambda-Runtime-Cognito-Identity': '{"cognitoIdentityId":"i"}' } },
    { event: {}, headers: { 'Lambda-Runtime-Trace-Id': undefined } },
  ],
});
add('malformed client context', { handler: 'basic.context', events: [{ event: {}, headers: { 'Lambda-Runtime-Client-Context': '{x' } }] });
add('non-JSON event then a JSON one', { handler: 'basic.asyncEcho', events: [{ event: 'not json' }, { event: '[1]' }] });
add('JSON log format', { handler: 'basic.logs', events: [{}], env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } });
add('JSON log format, Invoke Error', { handler: 'basic.customError', events: [{}], env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } });
add('log level WARN', { handler: 'basic.logs', events: [{}], env: { AWS_LAMBDA_LOG_LEVEL: 'WARN' } });
add('uncaught exception during invoke', { handler: 'basic.uncaught', events: [{}], exits: true });
add('unhandled rejection during invoke', { handler: 'basic.unhandled', events: [{}], exits: true });
add('unserializable callback result', { handler: 'circularCb.handler', events: [{}], exits: true });
for (const h of ['index', '../app/basic.asyncEcho', 'basic.missing', 'basic.notAFunction', 'nothere.handler',
  'requires-missing.handler', 'syntax.handler']) {
  add(`init error for '${h}'`, { handler: h, events: [], exits: true });
}
add('init: module throws', { handler: 'throws.handler', taskRoot: CRASH, events: [], exits: true });
// Not compared, because AWS's client is racy there (its blocking native GET next runs
// beside the JS that reports): basic.lateAfterNull (whether the already-done warning is
// printed before the next GET varies run to run) and a module whose load leaves a
// rejected promise (its exit waits for a GET next that may never return). Both are
// checked for our client alone in client.test.js.
for (const [h, root] of [['lib/deep/mod.handler', APP], ['extless.handler', APP], ['order.handler', APP],
  ['only.handler', APP], ['index.handler', path.join(HANDLERS, 'esm-pkg')], ['index.handler', path.join(HANDLERS, 'tla')]]) {
  add(`lookup ${h} in ${path.basename(root)}`, { handler: h, taskRoot: root, events: [{}] });
}
add('NODE_PATH fallback', { handler: 'shared-handler.handler', events: [{}], env: { NODE_PATH: path.join(HANDLERS, 'nodepath/node_modules') } });
add('a log record as the first output, at load', { handler: 'first-output.handler', events: [{}] });
for (const h of ['chunks', 'http', 'failsLate', 'notAsync', 'lateContentType', 'smallBuffer']) {
  add(`streaming ${h}`, { handler: `stream.${h}`, events: [{}] });
}

describe('conformance with aws-lambda-ric under node 18', { concurrency: 2 }, () => {
  test('prerequisites', () => {
    assert.ok(node, 'NODE18 must be set');
    assert.ok(process.env.LBOX_RIC_DIR, 'LBOX_RIC_DIR must point at the built aws-lambda-ric');
  });
  for (const [name, opts] of cases) {
    test(name, async () => {
      const base = Object.assign({ node, taskRoot: APP }, opts);
      const theirs = observed(await runClient(Object.assign({ client: 'ric' }, base)));
      const ours = observed(await runClient(Object.assign({ client: 'lbox' }, base)));
      assert.deepStrictEqual(ours, theirs);
    });
  }
});
