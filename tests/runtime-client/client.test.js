'use strict';
// The runtime client's behaviour, one case per rule, run under each runtime's Node
// (NODE14, NODE16, NODE18 = paths of the binaries) against the fake Runtime API.

const { describe, test } = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { execFileSync } = require('child_process');
const { runClient, logLines, HANDLERS, ROOT } = require('./harness');

const NODES = ['14', '16', '18'].map((v) => [v, process.env['NODE' + v]]);
// The runtime file a "Require stack" ends with, as on Lambda (index.js on nodejs14.x).
const entryOf = (version) => path.join(ROOT, 'base-images/runtime', version === '14' ? 'index.js' : 'index.mjs');
const APP = path.join(HANDLERS, 'app');

const body = (p) => JSON.parse(p.body.toString('utf8'));
const kind = (p) => p.path.replace(/^\/2018-06-01\/runtime\/(invocation\/[^/]+\/)?/, '');
const TEXT_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t([^\t]+)\t([A-Z]+)\t(.*)$/s;

function parseText(stdout) {
  return logLines(stdout).map((l) => {
    const m = TEXT_LINE.exec(l);
    assert.ok(m, `not a Lambda text log line: ${JSON.stringify(l)}`);
    return { id: m[1], level: m[2], msg: m[3] };
  });
}

async function one(node, handler, event, extra) {
  return runClient(Object.assign({ node, handler, events: [event === undefined ? {} : event] }, extra || {}));
}

for (const [version, node] of NODES) {
  describe(`node ${version}`, { concurrency: 4 }, () => {
    test('binary is the runtime version', () => {
      assert.ok(node, `NODE${version} must be set`);
    });

    // --- completion styles -------------------------------------------------------------
    test('async handler result is posted as JSON to /response', async () => {
      const r = await one(node, 'basic.asyncEcho', { a: [1, 'x'] });
      assert.strictEqual(kind(r.posts[0]), 'response');
      assert.strictEqual(r.posts[0].path, `/2018-06-01/runtime/invocation/${r.ids[0]}/response`);
      assert.strictEqual(r.posts[0].body.toString(), '{"echo":{"a":[1,"x"]}}');
      assert.strictEqual(r.posts[0].headers['content-type'], 'application/json');
    });

    test('promise-returning handler; keep-alive: one connection for many invokes', async () => {
      const r = await runClient({ node, handler: 'basic.promiseEcho', events: [1, 2, 3] });
      assert.deepStrictEqual(r.posts.map((p) => p.body.toString()), ['{"echo":1}', '{"echo":2}', '{"echo":3}']);
      const gets = r.requests.filter((q) => q.method === 'GET');
      assert.strictEqual(gets.length, 4);
      for (const q of r.requests) assert.strictEqual(q.headers.connection, 'keep-alive');
    });

    test('undefined answers null; a sync handler without callback answers null', async () => {
      for (const h of ['basic.asyncUndefined', 'basic.syncNoCallback']) {
        const r = await one(node, h);
        assert.strictEqual(r.posts[0].body.toString(), 'null', h);
      }
    });

    test('a promise that never settles answers null once the event loop is empty', async () => {
      const r = await one(node, 'basic.neverSettles');
      assert.strictEqual(kind(r.posts[0]), 'response');
      assert.strictEqual(r.posts[0].body.toString(), 'null');
    });

    test('callback waits for the empty event loop by default', async () => {
      const r = await one(node, 'basic.callbackWaits');
      assert.strictEqual(r.posts[0].body.toString(), '{"n":1,"late":true}');
    });

    test('callbackWaitsForEmptyEventLoop=false answers at once', async () => {
      const r = await one(node, 'basic.callbackNoWait');
      assert.strictEqual(r.posts[0].body.toString(), '{"n":1}');
    });

    test('context.succeed answers at once; done(null, v) and done(err)', async () => {
      let r = await one(node, 'basic.succeed');
      assert.strictEqual(r.posts[0].body.toString(), '{"how":"succeed"}');
      r = await one(node, 'basic.done');
      assert.strictEqual(r.posts[0].body.toString(), '{"how":"done"}');
      r = await one(node, 'basic.doneError');
      assert.strictEqual(kind(r.posts[0]), 'error');
      assert.strictEqual(body(r.posts[0]).errorType, 'TypeError');
    });

    test('context.fail() reports "handled"; fail(err) reports the error', async () => {
      let r = await one(node, 'basic.failEmpty');
      assert.deepStrictEqual(body(r.posts[0]), { errorType: 'string', errorMessage: 'handled', trace: [] });
      r = await one(node, 'basic.failError');
      assert.strictEqual(body(r.posts[0]).errorType, 'RangeError');
      assert.strictEqual(body(r.posts[0]).errorMessage, 'fail failed');
    });

    test('only the first completion counts', async () => {
      const r = await runClient({ node, handler: 'basic.callbackTwice', events: [1, 2] });
      assert.deepStrictEqual(r.posts.map((p) => p.body.toString()), ['"first"', '"first"']);
    });

    test('a completion after the null answer logs the already-done warning', async () => {
      // The second invoke makes sure the first one's late line has been printed.
      const r = await runClient({ node, handler: 'basic.lateAfterNull', events: [1, 2] });
      assert.deepStrictEqual(r.posts.map((p) => p.body.toString()), ['null', 'null']);
      const lines = parseText(r.stdout);
      assert.deepStrictEqual(lines[0], { id: r.ids[0], level: 'ERROR',
        msg: 'Invocation has already been reported as done. Cannot call complete more than once per invocation.' });
    });

    // --- errors --------------------------------------------------------------------------
    test('thrown Error: {errorType, errorMessage, trace}, no error-type header, X-Ray cause', async () => {
      const r = await one(node, 'basic.throwsError');
      const p = r.posts[0];
      assert.strictEqual(p.path, `/2018-06-01/runtime/invocation/${r.ids[0]}/error`);
      const b = body(p);
      assert.deepStrictEqual(Object.keys(b), ['errorType', 'errorMessage', 'trace']);
      assert.strictEqual(b.errorType, 'ReferenceError');
      assert.strictEqual(b.errorMessage, 'x is not defined');
      assert.strictEqual(b.trace[0], 'ReferenceError: x is not defined');
      // V8 names the receiver in older versions only ("Runtime.exports...", as under AWS).
      assert.match(b.trace[1], /at (Runtime\.)?exports\.throwsError \[as handler\] \(.*basic\.js:\d+:\d+\)/);
      assert.strictEqual(p.headers['lambda-runtime-function-error-type'], undefined);
      const cause = JSON.parse(p.headers['lambda-runtime-function-xray-error-cause']);
      assert.strictEqual(cause.exceptions[0].type, 'ReferenceError');
      assert.ok(cause.paths.some((x) => x.endsWith('basic.js')));
    });

    test('thrown or rejected non-Error values report their typeof', async () => {
      let r = await one(node, 'basic.throwsNumber');
      assert.deepStrictEqual(body(r.posts[0]), { errorType: 'number', errorMessage: '42', trace: [] });
      r = await one(node, 'basic.rejectsString');
      assert.deepStrictEqual(body(r.posts[0]), { errorType: 'string', errorMessage: 'oops', trace: [] });
      r = await one(node, 'basic.callbackString');
      assert.deepStrictEqual(body(r.posts[0]), { errorType: 'string', errorMessage: 'oops', trace: [] });
    });

    test('custom error name and own properties; Invoke Error log line', async () => {
      const r = await one(node, 'basic.customError');
      assert.strictEqual(body(r.posts[0]).errorType, 'BudgetExhausted');
      const [line] = parseText(r.stdout);
      assert.strictEqual(line.level, 'ERROR');
      assert.ok(line.msg.startsWith('Invoke Error \t{'), line.msg);
      const logged = JSON.parse(line.msg.slice('Invoke Error \t'.length));
      assert.strictEqual(logged.errorType, 'BudgetExhausted');
      assert.strictEqual(logged.errorMessage, 'no money');
      assert.strictEqual(logged.code, 'E_BUDGET');
      assert.ok(Array.isArray(logged.stack));
    });

    test('an error whose stack cannot be read reports "handled"', async () => {
      const r = await one(node, 'basic.badAccessError');
      assert.deepStrictEqual(body(r.posts[0]), {
        errorType: 'handled',
        errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
      });
    });

    test('an unserializable result is an error', async () => {
      const r = await one(node, 'basic.circular');
      assert.strictEqual(kind(r.posts[0]), 'error');
      assert.strictEqual(body(r.posts[0]).errorMessage, 'Unable to stringify response body');
    });

    test('a result that serialises to nothing (a function, a symbol) is AWS\'s TypeError', async () => {
      for (const handler of ['basic.returnsFunction', 'basic.returnsSymbol']) {
        const r = await one(node, handler);
        assert.strictEqual(kind(r.posts[0]), 'error', handler);
        const b = body(r.posts[0]);
        assert.deepStrictEqual([b.errorType, b.errorMessage], ['TypeError', 'Wrong arguments'], handler);
      }
    });

    test('an unserializable callback result after the loop drains: error posted, exit 129', async () => {
      const r = await one(node, 'circularCb.handler', {}, { exits: true });
      assert.strictEqual(r.code, 129);
      assert.strictEqual(body(r.posts[0]).errorMessage, 'Unable to stringify response body');
    });

    test('a non-JSON event is an ordinary invocation error', async () => {
      const r = await runClient({ node, handler: 'basic.asyncEcho', events: [{ event: 'not json' }, { event: '{"ok":1}' }] });
      assert.strictEqual(kind(r.posts[0]), 'error');
      assert.strictEqual(body(r.posts[0]).errorType, 'SyntaxError');
      assert.strictEqual(r.posts[1].body.toString(), '{"echo":{"ok":1}}');
    });

    test('uncaught exception during an invoke: error posted, exit 129', async () => {
      const r = await one(node, 'basic.uncaught', {}, { exits: true });
      assert.strictEqual(r.code, 129);
      assert.strictEqual(kind(r.posts[0]), 'error');
      assert.strictEqual(body(r.posts[0]).errorMessage, 'boom later');
      assert.ok(parseText(r.stdout)[0].msg.startsWith('Uncaught Exception \t'));
    });

    test('after the first fatal error nothing more is logged, as AWS\'s client has exited', async () => {
      for (const [handler, code, label, message] of [['basic.uncaughtTwice', 129, 'Uncaught Exception', 't1'],
        ['basic.rejectTwice', 128, 'Unhandled Promise Rejection', 'Error: r1']]) {
        const r = await one(node, handler, {}, { exits: true });
        assert.strictEqual(r.code, code, handler);
        assert.strictEqual(r.posts.length, 1, handler);
        assert.strictEqual(body(r.posts[0]).errorMessage, message, handler);
        const lines = parseText(r.stdout);
        assert.strictEqual(lines.length, 1, `${handler}: ${r.stdout}`);
        assert.ok(lines[0].msg.startsWith(label + ' \t'), lines[0].msg);
      }
    });

    test('unhandled rejection during an invoke: Runtime.UnhandledPromiseRejection, exit 128', async () => {
      const r = await one(node, 'basic.unhandled', {}, { exits: true });
      assert.strictEqual(r.code, 128);
      const b = body(r.posts[0]);
      assert.strictEqual(b.errorType, 'Runtime.UnhandledPromiseRejection');
      assert.strictEqual(b.errorMessage, 'Error: rejected later');
      assert.ok(parseText(r.stdout)[0].msg.startsWith('Unhandled Promise Rejection \t'));
    });

    // --- init ----------------------------------------------------------------------------
    const initCases = [
      ['index', APP, 'Runtime.MalformedHandlerName', 'Bad handler'],
      ['../app/basic.asyncEcho', APP, 'Runtime.MalformedHandlerName',
        "'../app/basic.asyncEcho' is not a valid handler name. Use absolute paths when specifying root directories in handler names."],
      ['basic.missing', APP, 'Runtime.HandlerNotFound', 'basic.missing is undefined or not exported'],
      ['basic.notAFunction', APP, 'Runtime.HandlerNotFound', 'basic.notAFunction is not a function'],
      ['nothere.handler', APP, 'Runtime.ImportModuleError',
        `Error: Cannot find module 'nothere'\nRequire stack:\n- ${entryOf(version)}`],
      ['requires-missing.handler', APP, 'Runtime.ImportModuleError',
        `Error: Cannot find module 'definitely-not-installed-package'\nRequire stack:\n- ${path.join(APP, 'requires-missing.js')}\n- ${entryOf(version)}`],
      ['syntax.handler', APP, 'Runtime.UserCodeSyntaxError', /^SyntaxError: Unexpected token/],
      ['throws.handler', path.join(HANDLERS, 'init-crash'), 'TypeError', 'bad config at load'],
    ];
    for (const [handler, root, type, message] of initCases) {
      test(`init error ${type} for '${handler}': POST /init/error with the type header, exit 129`, async () => {
        const r = await runClient({ node, handler, taskRoot: root, events: [], exits: true });
        assert.strictEqual(r.code, 129);
        assert.strictEqual(r.posts.length, 1);
        assert.strictEqual(r.posts[0].path, '/2018-06-01/runtime/init/error');
        assert.strictEqual(r.posts[0].headers['lambda-runtime-function-error-type'], type);
        const b = body(r.posts[0]);
        assert.strictEqual(b.errorType, type);
        if (message instanceof RegExp) assert.match(b.errorMessage, message);
        else assert.strictEqual(b.errorMessage, message);
        const [line] = parseText(r.stdout);
        assert.strictEqual(line.id, 'undefined');
        assert.ok(line.msg.startsWith('Uncaught Exception \t{"errorType":"' + type + '"'), line.msg);
        assert.strictEqual(r.requests.filter((q) => q.method === 'GET').length, 0);
      });
    }

    test('unhandled rejection while loading: init error, exit 128', async () => {
      const r = await runClient({ node, handler: 'rejects.handler', taskRoot: path.join(HANDLERS, 'init-crash'), events: [], exits: true });
      assert.strictEqual(r.code, 128);
      assert.strictEqual(r.posts[0].path, '/2018-06-01/runtime/init/error');
      assert.strictEqual(body(r.posts[0]).errorType, 'Runtime.UnhandledPromiseRejection');
    });

    // --- handler resolution ----------------------------------------------------------------
    const lookups = [
      ['lib/deep/mod.handler', APP, 'dir/file form'],
      ['basic.nested.deeper.handler', APP, 'nested'],
      ['extless.handler', APP, 'extensionless'],
      ['order.handler', APP, 'mjs'],
      ['only.handler', APP, 'cjs'],
      ['index.handler', path.join(HANDLERS, 'esm-pkg'), 'esm b.js'],
      ['index.handler', path.join(HANDLERS, 'tla'), 'awaited'],
      [`${path.join(HANDLERS, 'app/lib/deep/mod')}.handler`, '/', 'dir/file form'],
    ];
    for (const [handler, root, want] of lookups) {
      test(`handler '${handler}' in ${path.basename(root)} answers ${want}`, async () => {
        const r = await runClient({ node, handler, taskRoot: root, events: [{}] });
        assert.strictEqual(r.posts[0].body.toString(), JSON.stringify(want));
      });
    }

    test('fallback resolution through NODE_PATH', async () => {
      const r = await runClient({
        node, handler: 'shared-handler.handler', taskRoot: APP, events: [{}],
        env: { NODE_PATH: path.join(HANDLERS, 'nodepath/node_modules') },
      });
      assert.strictEqual(r.posts[0].body.toString(), '"found through NODE_PATH"');
    });

    // --- context -----------------------------------------------------------------------
    test('context fields, X-Ray id set per invoke and removed when absent', async () => {
      const r = await runClient({
        node, handler: 'basic.context', events: [
          { event: {}, headers: { 'Lambda-Runtime-Client-Context': '{"custom":{"k":"v"}}', 'Lambda-Runtime-Cognito-Identity': '{"cognitoIdentityId":"id1","cognitoIdentityPoolId":"pool"}' } },
          { event: {}, headers: { 'Lambda-Runtime-Trace-Id': undefined } },
        ],
      });
      const a = body(r.posts[0]);
      assert.deepStrictEqual(a, {
        functionName: 'test', functionVersion: '$LATEST', memoryLimitInMB: '128',
        logGroupName: '/aws/lambda/test', logStreamName: '2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:test', awsRequestId: r.ids[0],
        clientContext: { custom: { k: 'v' } }, identity: { cognitoIdentityId: 'id1', cognitoIdentityPoolId: 'pool' },
        remainingPositive: true, waits: true,
        trace: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
      });
      const b = body(r.posts[1]);
      assert.strictEqual(b.trace, 'unset');
      assert.strictEqual(b.clientContext, 'undefined');
      assert.strictEqual(b.awsRequestId, r.ids[1]);
    });

    test('malformed client context is an invocation error', async () => {
      const r = await one(node, 'basic.context', { event: {}, headers: { 'Lambda-Runtime-Client-Context': '{nope' } });
      assert.strictEqual(kind(r.posts[0]), 'error');
      assert.match(body(r.posts[0]).errorMessage, /^Cannot parse ClientContext as json: SyntaxError: /);
    });

    // --- logging -------------------------------------------------------------------------
    test('text log records: levels, formatting, \\r for inner newlines, all on stdout', async () => {
      const r = await one(node, 'basic.logs');
      assert.strictEqual(r.stderr, '');
      const lines = parseText(r.stdout);
      for (const l of lines) assert.strictEqual(l.id, r.ids[0]);
      assert.deepStrictEqual(lines.map((l) => l.level), ['INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG', 'TRACE', 'FATAL', 'INFO', 'INFO']);
      assert.strictEqual(lines[0].msg, 'log with 2 args');
      assert.strictEqual(lines[1].msg, '{ info: true }');
      assert.strictEqual(lines[3].msg, 'error formatted');
      assert.ok(r.stdout.includes('\tWARN\tline1\rline2\n'));
      assert.match(lines[7].msg, /^Error: logged error\r {4}at /);
      assert.strictEqual(lines[8].msg, 'undefined');
    });

    test('nodejs14.x predates JSON logs and log levels: text records of every level', async () => {
      const r = await one(node, 'basic.logs', {}, { env: { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: 'ERROR' } });
      const text = () => parseText(r.stdout).map((l) => l.level);
      if (version === '14') assert.deepStrictEqual(text().slice(0, 3), ['INFO', 'INFO', 'WARN']);
      else assert.throws(text, /not a Lambda text log line/);
    });
  });

  // nodejs14.x predates these (its own case above checks that it ignores them).
  if (version !== '14') describe(`node ${version}: JSON logs and log levels`, { concurrency: 4 }, () => {
    test('AWS_LAMBDA_LOG_LEVEL=WARN drops lower levels; FATAL always logs', async () => {
      const r = await one(node, 'basic.logs', {}, { env: { AWS_LAMBDA_LOG_LEVEL: 'warn' } });
      assert.deepStrictEqual(parseText(r.stdout).map((l) => l.level), ['WARN', 'ERROR', 'FATAL']);
    });

    test('AWS_LAMBDA_LOG_FORMAT=JSON records', async () => {
      const r = await one(node, 'basic.logs', {}, { env: { AWS_LAMBDA_LOG_FORMAT: 'json' } });
      const recs = logLines(r.stdout).map((l) => JSON.parse(l));
      for (const rec of recs) {
        assert.match(rec.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.strictEqual(rec.requestId, r.ids[0]);
      }
      assert.deepStrictEqual(Object.keys(recs[0]), ['timestamp', 'level', 'requestId', 'message']);
      assert.strictEqual(recs[0].message, 'log with 2 args');
      assert.deepStrictEqual(recs[1].message, { info: true });
      assert.strictEqual(recs[2].message, 'line1\nline2');
      assert.strictEqual(recs[6].level, 'FATAL');
      assert.strictEqual(recs[7].message.errorType, 'Error');
      assert.strictEqual(recs[7].message.errorMessage, 'logged error');
      assert.ok(Array.isArray(recs[7].message.stackTrace));
      assert.strictEqual('message' in recs[8], false);
    });

    test('JSON format: the Invoke Error record carries the error', async () => {
      const r = await one(node, 'basic.throwsError', {}, { env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } });
      const [rec] = logLines(r.stdout).map((l) => JSON.parse(l));
      assert.strictEqual(rec.level, 'ERROR');
      assert.strictEqual(rec.message.errorType, 'ReferenceError');
      assert.strictEqual(rec.message.errorMessage, 'x is not defined');
    });
  });

  describe(`node ${version}, continued`, { concurrency: 4 }, () => {

    // The runtime loads util (and fs, for the fd) only when a record is written: these
    // make the first output of the process a log record, at load and in the handler.
    test('a log record as the first output, at load; lone strings as is; the awslambda global', async () => {
      const r = await one(node, 'first-output.handler');
      assert.strictEqual(r.stderr, '');
      assert.deepStrictEqual(parseText(r.stdout).map((l) => [l.id, l.level, l.msg]), [
        ['undefined', 'INFO', 'loading 100%% of %s'],
        [r.ids[0], 'INFO', 'in handler %d'],
        [r.ids[0], 'WARN', 'two args %s'],
      ]);
      assert.deepStrictEqual(body(r.posts[0]).awslambda, [
        ['streamifyResponse', 'function', true, true, true],
        ['HttpResponseStream', 'function', true, true, true],
      ]);
    });

    test('_LAMBDA_TELEMETRY_LOG_FD: framed records on that fd, none on stdout, variable removed', async () => {
      const r = await one(node, 'first-output.handler', {}, { telemetry: true });
      assert.strictEqual(r.stdout, '');
      assert.strictEqual(body(r.posts[0]).telemetryFd, 'unset');
      const frames = [];
      for (let b = r.telemetry; b.length > 0;) {
        assert.ok(b.length >= 16, 'truncated frame header');
        const len = b.readInt32BE(4);
        frames.push({ type: b.readUInt32BE(0), usec: b.readBigInt64BE(8), text: b.slice(16, 16 + len).toString() });
        b = b.slice(16 + len);
      }
      assert.deepStrictEqual(frames.map((f) => [f.type.toString(16), f.text.replace(/^[^\t]*\t/, '')]), [
        ['a55a000f', 'undefined\tINFO\tloading 100%% of %s\n'],
        ['a55a000f', `${r.ids[0]}\tINFO\tin handler %d\n`],
        ['a55a0013', `${r.ids[0]}\tWARN\ttwo args %s\n`],
      ]);
      for (const f of frames) assert.strictEqual(f.usec, BigInt(Date.parse(f.text.split('\t')[0])) * 1000n);
    });

    // --- streaming -----------------------------------------------------------------------
    test('streamifyResponse: chunked POST in streaming mode with the content type set', async () => {
      const r = await one(node, 'stream.chunks');
      const p = r.posts[0];
      assert.strictEqual(kind(p), 'response');
      assert.strictEqual(p.headers['lambda-runtime-function-response-mode'], 'streaming');
      assert.strictEqual(p.headers['transfer-encoding'], 'chunked');
      assert.strictEqual(p.headers['content-type'], 'text/plain');
      assert.strictEqual(p.headers.trailer, 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body');
      assert.strictEqual(p.body.toString(), 'hello world');
    });

    test('HttpResponseStream.from: JSON prelude, 8 NUL bytes, then the body', async () => {
      const r = await one(node, 'stream.http');
      const p = r.posts[0];
      assert.strictEqual(p.headers['content-type'], 'application/vnd.awslambda.http-integration-response');
      const prelude = '{"statusCode":201,"headers":{"x-a":"b"}}';
      assert.deepStrictEqual(p.body, Buffer.concat([Buffer.from(prelude), Buffer.alloc(8), Buffer.from('body')]));
    });

    test('streaming error after the first byte travels in the trailers', async () => {
      const r = await one(node, 'stream.failsLate');
      const p = r.posts[0];
      assert.strictEqual(p.body.toString(), 'partial');
      assert.strictEqual(p.trailers['lambda-runtime-function-error-type'], 'Error');
      const err = JSON.parse(Buffer.from(p.trailers['lambda-runtime-function-error-body'], 'base64').toString());
      assert.strictEqual(err.errorMessage, 'stream broke');
    });

    test('streamifyResponse with a highWaterMark: the body arrives whole', async () => {
      const r = await one(node, 'stream.smallBuffer');
      assert.strictEqual(r.posts[0].headers['lambda-runtime-function-response-mode'], 'streaming');
      assert.strictEqual(r.posts[0].body.toString(), [0, 1, 2, 3].map((i) => `chunk${i};`.repeat(8)).join(''));
    });

    test('streaming: non-async handler and too-late content type are errors', async () => {
      let r = await one(node, 'stream.notAsync');
      let err = JSON.parse(Buffer.from(r.posts[0].trailers['lambda-runtime-function-error-body'], 'base64').toString());
      assert.deepStrictEqual(err, { errorType: 'string', errorMessage: 'Streaming does not support non-async handlers.', trace: [] });
      r = await one(node, 'stream.lateContentType');
      err = JSON.parse(Buffer.from(r.posts[0].trailers['lambda-runtime-function-error-body'], 'base64').toString());
      assert.strictEqual(err.errorType, 'Runtime.InvalidStreamingOperation');
      assert.strictEqual(err.errorMessage, 'Cannot set content-type, too late.');
    });

    test('AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA hides the awslambda global', async () => {
      const r = await runClient({ node, handler: 'stream.chunks', events: [], exits: true, env: { AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA: 'true' } });
      assert.strictEqual(r.code, 129);
      assert.match(body(r.posts[0]).errorMessage, /awslambda is not defined/);
    });
  });

  // The plain requests go over lib/tcp-transport.js; _LBOX_RUNTIME_TRANSPORT=http puts them
  // back on Node's 'http' (also where the TCP transport cannot be used). Both must behave.
  describe(`node ${version}, transport`, { concurrency: 4 }, () => {
    test('a buffered invoke loads none of http, net, stream, fs/promises that bare node does not', async () => {
      const bare = JSON.parse(execFileSync(node, [path.join(APP, 'basic.js')], { stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.ok(!bare.includes('http'), 'bare node does not load http');
      const r = await one(node, 'basic.loaded');
      assert.deepStrictEqual(body(r.posts[0]), { modules: bare, transportVar: 'unset' });
    });

    test('with a telemetry fd, logging loads none of them either (no public fs)', async () => {
      const bare = JSON.parse(execFileSync(node, [path.join(APP, 'basic.js')], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const quiet = await one(node, 'basic.loaded', {}, { telemetry: true });
      assert.deepStrictEqual(body(quiet.posts[0]).modules, bare);
      const logged = await one(node, 'basic.loggedLoaded', {}, { telemetry: true });
      assert.deepStrictEqual(body(logged.posts[0]), { modules: bare });
      assert.match(logged.telemetry.slice(16).toString(), /\tINFO\ta record\n$/);
    });

    const HTTP = { env: { _LBOX_RUNTIME_TRANSPORT: 'http' } };
    test('transport http: loads http, and the switch stays out of the function', async () => {
      const r = await one(node, 'basic.loaded', {}, HTTP);
      const b = body(r.posts[0]);
      assert.ok(b.modules.includes('http'), JSON.stringify(b));
      assert.strictEqual(b.transportVar, 'unset');
    });

    test('transport http: answers, errors and init errors are posted alike', async () => {
      const viaHttp = await runClient(Object.assign({ node, handler: 'basic.promiseEcho', events: [1, 2] }, HTTP));
      const viaTcp = await runClient({ node, handler: 'basic.promiseEcho', events: [1, 2] });
      for (const r of [viaHttp, viaTcp]) {
        assert.deepStrictEqual(r.posts.map((p) => p.body.toString()), ['{"echo":1}', '{"echo":2}']);
        for (const q of r.requests) assert.strictEqual(q.headers.connection, 'keep-alive');
      }
      const err = await one(node, 'basic.throwsError', {}, HTTP);
      assert.strictEqual(kind(err.posts[0]), 'error');
      assert.strictEqual(body(err.posts[0]).errorType, 'ReferenceError');
      assert.strictEqual(err.posts[0].headers['lambda-runtime-function-error-type'], undefined);
      const init = await runClient(Object.assign({ node, handler: 'nope.handler', events: [], exits: true }, HTTP));
      assert.strictEqual(init.code, 129);
      assert.strictEqual(kind(init.posts[0]), 'init/error');
      assert.strictEqual(init.posts[0].headers['lambda-runtime-function-error-type'], 'Runtime.ImportModuleError');
    });

    test('an unknown transport is refused before any request', async () => {
      const r = await runClient({ node, handler: 'basic.asyncEcho', events: [], posts: 0, exits: true,
        env: { _LBOX_RUNTIME_TRANSPORT: 'carrier-pigeon' } });
      assert.notStrictEqual(r.code, 0);
      assert.match(r.stderr, /unknown Runtime API transport 'carrier-pigeon'/);
      assert.strictEqual(r.requests.length, 0);
    });
  });
}
