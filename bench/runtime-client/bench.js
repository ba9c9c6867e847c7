'use strict';
// Figures for the runtime client against the fake Runtime API, each beside a baseline
// measured in the same run: warm invoke round trip (event handed out -> response posted)
// vs aws-lambda-ric, and start-up (spawn -> first GET next) vs `node -e 0`.
// Env: NODE18, LBOX_RIC_DIR (optional: without it the ric ratio is skipped).

const path = require('path');
const { spawn } = require('child_process');
const { FakeRuntimeApi } = require('../../tests/runtime-client/fake-runtime-api');

const ROOT = path.resolve(__dirname, '../..');
const node = process.env.NODE18;
const APP = path.join(ROOT, 'tests/runtime-client/handlers/app');
const WARM = 300;
const STARTS = 15;

function args(client) {
  return client === 'ric'
    ? [path.join(ROOT, 'tests/runtime-client/ric-launch.mjs')]
    : ['--expose-gc', '--max-http-header-size', '81920', path.join(ROOT, 'base-images/runtime/lib/main.js')];
}

function start(client, api) {
  return spawn(node, args(client), {
    stdio: 'ignore',
    env: { PATH: process.env.PATH, AWS_LAMBDA_RUNTIME_API: api.address, _HANDLER: 'basic.asyncEcho',
      LAMBDA_TASK_ROOT: APP, LBOX_RIC_DIR: process.env.LBOX_RIC_DIR || '' },
  });
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (ns) => Number(ns) / 1e6;

async function warm(client) {
  const api = new FakeRuntimeApi();
  await api.start();
  const child = start(client, api);
  const gets = () => api.requests.filter((r) => r.method === 'GET').length;
  await api.waitFor(() => gets() >= 1, 20000, 'first GET');
  const times = [];
  for (let i = 0; i < WARM; i++) {
    const t0 = process.hrtime.bigint();
    api.enqueue({ i });
    await api.waitFor((a) => a.posts.length > i && gets() > i + 1, 10000, 'response');
    times.push(ms(api.posts[i].at - t0));
  }
  child.kill('SIGKILL');
  await api.close();
  return median(times.slice(20)); // the first invokes warm up V8 and the connection
}

async function startup(client) {
  const times = [];
  for (let i = 0; i < STARTS; i++) {
    const api = new FakeRuntimeApi();
    await api.start();
    const t0 = process.hrtime.bigint();
    const child = start(client, api);
    await api.waitFor((a) => a.requests.length >= 1, 20000, 'first GET');
    times.push(ms(api.requests[0].at - t0));
    child.kill('SIGKILL');
    await api.close();
  }
  return median(times);
}

function nodeBaseline() {
  return new Promise((resolve) => {
    const times = [];
    const once = () => {
      const t0 = process.hrtime.bigint();
      spawn(node, ['-e', '0'], { stdio: 'ignore' }).on('exit', () => {
        times.push(ms(process.hrtime.bigint() - t0));
        if (times.length < STARTS) once(); else resolve(median(times));
      });
    };
    once();
  });
}

(async () => {
  const fmt = (x) => x.toFixed(3).padStart(8);
  const ours = await warm('lbox');
  console.log(`warm invoke round trip, median of ${WARM - 20} (node 18)`);
  console.log(`  lbox client      ${fmt(ours)} ms`);
  if (process.env.LBOX_RIC_DIR) {
    const ric = await warm('ric');
    console.log(`  aws-lambda-ric   ${fmt(ric)} ms`);
    console.log(`  ratio lbox/ric   ${fmt(ours / ric)}`);
  }
  const base = await nodeBaseline();
  const up = await startup('lbox');
  console.log(`start-up to first GET next, median of ${STARTS} (node 18)`);
  console.log(`  lbox client      ${fmt(up)} ms`);
  console.log(`  node -e 0        ${fmt(base)} ms`);
  console.log(`  ratio            ${fmt(up / base)}`);
  if (process.env.LBOX_RIC_DIR) {
    const ricUp = await startup('ric');
    console.log(`  aws-lambda-ric   ${fmt(ricUp)} ms (ratio ${(ricUp / base).toFixed(3)})`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
