'use strict';
// Cold start of runtime clients, interleaved so that machine noise hits all of them alike:
// spawn -> first GET next, and spawn -> POST .../response of the first event, medians; also
// the CPU time of the client's main thread until that POST (from /proc/PID/schedstat, read
// when the POST arrives), which a busy machine disturbs far less than wall-clock time.
// usage: node coldstart.js [--probe] RUNS NODE INDEX_JS... (each INDEX_JS a runtime client's
// index.js; the literal "baseline" runs a bare node that requires the handler and answers
// over http). --probe adds probe.js's in-process times: main module start -> GET, -> POST.

const path = require('path');
const fs = require('fs');
const { spawn } = require('child_process');
const { FakeRuntimeApi } = require('../../tests/runtime-client/fake-runtime-api');

const ROOT = path.resolve(__dirname, '../..');
const APP = path.join(ROOT, 'tests/runtime-client/handlers/app');
const BASELINE = path.join(__dirname, 'baseline-client.js');

async function once(node, client, probe) {
  const api = new FakeRuntimeApi();
  await api.start();
  api.enqueue({ name: 'bench' });
  const t0 = process.hrtime.bigint();
  const child = spawn(node, [...(probe ? ['-r', path.join(__dirname, 'probe.js')] : []), '--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=6',
    '--max-old-space-size=116', client === 'baseline' ? BASELINE : client], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, AWS_LAMBDA_RUNTIME_API: api.address, _HANDLER: 'basic.asyncEcho',
      LAMBDA_TASK_ROOT: APP },
  });
  child.stdout.resume();
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let cpu;
  await api.waitFor((a) => {
    if (a.posts.length < 1) return false;
    cpu = Number(fs.readFileSync(`/proc/${child.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    return true;
  }, 20000, 'first POST');
  const get = Number(api.requests[0].at - t0) / 1e6;
  const post = Number(api.posts[0].at - t0) / 1e6;
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  await api.close();
  const m = /PROBE (.*)/.exec(stderr);
  const inside = m ? JSON.parse(m[1]) : { get: NaN, post: NaN };
  return { get, post, cpu, inGet: inside.get, inPost: inside.post };
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// probe.js sees requests made through 'http' only; lbox's client writes its own to a TCP
// handle, so it has no inside times.
const ms = (v, width) => (Number.isNaN(v) ? 'n/a'.padStart(width) : v.toFixed(2).padStart(width));

(async () => {
  const argv = process.argv.slice(2);
  const probe = argv[0] === '--probe';
  const [runs, node, ...clients] = probe ? argv.slice(1) : argv;
  const times = clients.map(() => ({ get: [], post: [], cpu: [], inGet: [], inPost: [] }));
  for (let i = 0; i < Number(runs); i++) {
    for (let c = 0; c < clients.length; c++) {
      const t = await once(node, clients[c], probe);
      times[c].get.push(t.get);
      times[c].post.push(t.post);
      times[c].cpu.push(t.cpu);
      times[c].inGet.push(t.inGet);
      times[c].inPost.push(t.inPost);
    }
  }
  for (let c = 0; c < clients.length; c++) {
    console.log(`${median(times[c].get).toFixed(2).padStart(8)} ms to GET next  ` +
      `${median(times[c].post).toFixed(2).padStart(8)} ms to POST response  ` +
      `${median(times[c].cpu).toFixed(2).padStart(8)} ms CPU  ` +
      (probe ? `| inside: ${ms(median(times[c].inGet), 6)} to GET ` +
        `${ms(median(times[c].inPost), 6)} to POST  ` : '') + clients[c]);
  }
})().catch((e) => { console.error(e); process.exit(1); });
