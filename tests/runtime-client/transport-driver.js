'use strict';
// Runs base-images/runtime/lib/tcp-transport.js under the Node given by the test, as the
// runtime client would: argv[2] is a JSON plan {host, port, steps: [step...]}, each step
// {requests: [{method, path, headers, bodySize}], waitMs}: the step's requests are issued
// together (so later ones queue), then the next step starts waitMs after all have ended.
// Prints one JSON line per request ({status, headers, bodyLength, bodySum} or {error,
// code}) and nothing else; then the process must end by itself (an idle connection may not
// hold it).

const path = require('path');
const crypto = require('crypto');
const { TcpTransport } = require(path.resolve(__dirname, '../../base-images/runtime/lib/tcp-transport.js'));

const plan = JSON.parse(process.argv[2]);
const transport = TcpTransport.create(plan.host, plan.port);
if (!transport) {
  console.log(JSON.stringify({ created: false }));
} else {
  run(plan.steps).catch((e) => { console.error(e); process.exitCode = 2; });
}

const sum = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

function one(r) {
  const body = r.bodySize ? Buffer.alloc(r.bodySize, 'b') : undefined;
  return new Promise((resolve) => transport.request(r.method, r.path, r.headers || {}, body,
    (res, got) => resolve({ status: res.statusCode, headers: res.headers, bodyLength: got.length, bodySum: sum(got) }),
    (err) => resolve({ error: err.message, code: err.code })));
}

async function run(steps) {
  for (const step of steps) {
    const results = await Promise.all(step.requests.map(one));
    for (const r of results) console.log(JSON.stringify(r));
    if (step.waitMs) await new Promise((r) => setTimeout(r, step.waitMs));
  }
}
