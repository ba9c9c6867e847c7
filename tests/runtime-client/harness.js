'use strict';
// Runs a runtime client as a child process against a FakeRuntimeApi: queue the events,
// start the client, wait until it has reported `posts` results (and asked for the next
// event, or exited), then stop it and hand back everything it sent and printed.

const path = require('path');
const { spawn } = require('child_process');
const { FakeRuntimeApi } = require('./fake-runtime-api');

const ROOT = path.resolve(__dirname, '../..');
// What the nodejs16.x/18.x bootstrap starts (nodejs14.x's index.js only requires it).
const OUR_CLIENT = path.join(ROOT, 'base-images/runtime/lib/main.js');
const HANDLERS = path.join(__dirname, 'handlers');

// The command line a client is started with, for client 'lbox' (ours) or 'ric' (AWS's,
// needs env LBOX_RIC_DIR = the built aws-lambda-ric package).
function clientArgs(client) {
  if (client === 'ric') return [path.join(__dirname, 'ric-launch.mjs')];
  return ['--expose-gc', '--max-http-header-size', '81920', OUR_CLIENT];
}

function baseEnv(api, handler, taskRoot) {
  return {
    PATH: process.env.PATH,
    LANG: 'en_US.UTF-8',
    TZ: 'UTC',
    AWS_LAMBDA_RUNTIME_API: api,
    _HANDLER: handler,
    LAMBDA_TASK_ROOT: taskRoot,
    AWS_LAMBDA_FUNCTION_NAME: 'test',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/test',
    AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef',
    AWS_REGION: 'us-east-1',
  };
}

// opts: node, client ('lbox'|'ric'), handler, taskRoot (default handlers/app), events
// ([{event, headers}] or plain values), env (extra; undefined values remove), posts
// (results to wait for), exits (true: wait for the process to exit), timeoutMs, telemetry
// (true: hand the client a pipe as fd 3 in _LAMBDA_TELEMETRY_LOG_FD; its bytes end up in
// result.telemetry).
async function runClient(opts) {
  if (!opts.node) throw new Error('runClient: no node binary given (set NODE14/NODE16/NODE18)');
  const api = new FakeRuntimeApi();
  const address = await api.start();
  const ids = (opts.events || []).map((e) => (e && e.event !== undefined
    ? api.enqueue(e.event, e.headers) : api.enqueue(e)));
  const env = Object.assign(baseEnv(address, opts.handler, opts.taskRoot || path.join(HANDLERS, 'app')), opts.env || {});
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  if (opts.client === 'ric') env.LBOX_RIC_DIR = process.env.LBOX_RIC_DIR;
  if (opts.telemetry) env._LAMBDA_TELEMETRY_LOG_FD = '3';

  const child = spawn(opts.node, opts.args || clientArgs(opts.client || 'lbox'), {
    env, cwd: opts.cwd || env.LAMBDA_TASK_ROOT || '/',
    stdio: ['ignore', 'pipe', 'pipe'].concat(opts.telemetry ? ['pipe'] : []),
  });
  const out = [];
  const err = [];
  const tel = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  if (opts.telemetry) child.stdio[3].on('data', (c) => tel.push(c));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));

  const timeoutMs = opts.timeoutMs || 15000;
  const want = opts.posts === undefined ? ids.length : opts.posts;
  let failure;
  try {
    const dead = exited.then(() => { throw new Error('client exited early'); });
    dead.catch(() => {});
    if (opts.exits) {
      await Promise.race([exited, new Promise((_, rej) => setTimeout(() => rej(new Error('client did not exit')), timeoutMs))]);
    } else {
      const gets = (a) => a.requests.filter((r) => r.method === 'GET').length;
      await Promise.race([dead, api.waitFor((a) => a.posts.length >= want && gets(a) > want, timeoutMs,
        `${want} result(s) and the next GET`)]);
    }
  } catch (e) {
    failure = e;
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const status = await exited;
  await api.close();
  const result = {
    ids,
    requests: api.requests,
    posts: api.posts,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    telemetry: Buffer.concat(tel),
    code: status.code,
    signal: status.signal,
  };
  if (failure && !opts.allowTimeout) {
    failure.message += `\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}\n--- posts: ${
      JSON.stringify(result.posts.map((p) => [p.path, p.body.toString()]))}`;
    throw failure;
  }
  return result;
}

// Log records printed by the client, one per line, with the request id column kept.
function logLines(stdout) {
  return stdout.split('\n').filter((l) => l.length > 0);
}

module.exports = { runClient, logLines, HANDLERS, OUR_CLIENT, ROOT };
