'use strict';
// The runtime client's TCP transport (lib/tcp-transport.js) under each runtime's Node,
// against a raw TCP server that answers with exactly the bytes a case needs: keep-alive,
// reconnection, chunked and many-header answers, big bodies, failures, and that an idle
// connection never keeps the process alive.

const { describe, test } = require('node:test');
const assert = require('node:assert');
const net = require('net');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');

const NODES = ['14', '16', '18'].map((v) => [v, process.env['NODE' + v]]);
const DRIVER = path.join(__dirname, 'transport-driver.js');

// A server whose answer(request) returns {raw, closeAfterMs} (closeAfterMs: end the
// connection that long after answering; 0 = at once). Records every request.
// A local port nothing listens on, below the ephemeral range (32768 and up on Linux): a port
// just freed there may be taken by another test's server meanwhile, or be the client's own
// source port, and a connection to it then succeeds (TCP self-connect) instead of being refused.
async function closedPort() {
  for (let port = 20000 + (process.pid % 5000); ; port++) {
    const free = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function rawServer(answer) {
  const seen = { connections: 0, requests: [] };
  const server = net.createServer((sock) => {
    const conn = ++seen.connections;
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const [method, target] = lines[0].split(' ');
        const headers = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
        }
        const length = Number(headers['content-length'] || 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        const req = { conn, method, target, headers, body };
        seen.requests.push(req);
        const a = answer(req);
        sock.write(a.raw);
        if (a.closeAfterMs !== undefined) setTimeout(() => sock.destroy(), a.closeAfterMs);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, seen, close: () => new Promise((r) => server.close(r)) };
}

function ok(body, extraHeaders) {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n${extraHeaders || ''}\r\n`), b]);
}

// Runs the driver; resolves to its printed results once it ends by itself (within 10 s).
function drive(node, plan, nodeArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, (nodeArgs || []).concat([DRIVER, JSON.stringify(plan)]), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`driver did not end by itself; stderr: ${err}`)); }, 10000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`driver exited ${code}: ${err}`));
      resolve({ results: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr: err });
    });
  });
}

const GET = { method: 'GET', path: '/2018-06-01/runtime/invocation/next' };

for (const [version, node] of NODES) {
  describe(`tcp transport, node ${version}`, { concurrency: 4 }, () => {
    test('binary is set', () => assert.ok(node, `NODE${version} must be set`));

    test('only for an IPv4 address', async () => {
      for (const host of ['localhost', '::1', '127.0.0.256', '1.2.3']) {
        const { results } = await drive(node, { host, port: 9001, steps: [] });
        assert.deepStrictEqual(results, [{ created: false }], host);
      }
    });

    test('keeps one connection across requests, queues the ones issued together', async () => {
      const srv = await rawServer((req) => ({ raw: ok(`answer ${req.target}`) }));
      try {
        const r = await drive(node, { host: '127.0.0.1', port: srv.port, steps: [
          { requests: [{ ...GET, path: '/a' }, { method: 'POST', path: '/b', headers: { 'Content-Type': 'application/json' }, bodySize: 5 }] },
          { requests: [{ ...GET, path: '/c' }] },
        ] });
        assert.deepStrictEqual(r.results.map((x) => x.status), [200, 200, 200]);
        assert.deepStrictEqual(srv.seen.requests.map((q) => q.target), ['/a', '/b', '/c']);
        assert.strictEqual(srv.seen.connections, 1);
        const [a, b] = srv.seen.requests;
        assert.strictEqual(a.headers.connection, 'keep-alive');
        assert.strictEqual(a.headers.host, `127.0.0.1:${srv.port}`);
        assert.strictEqual(a.headers['content-length'], undefined);
        assert.strictEqual(b.headers['content-length'], '5');
        assert.strictEqual(b.headers['content-type'], 'application/json');
        assert.strictEqual(b.body.toString(), 'bbbbb');
        assert.strictEqual(r.results[0].bodyLength, 'answer /a'.length);
      } finally { await srv.close(); }
    });

    test('reconnects when the server closed the idle connection', async () => {
      const srv = await rawServer(() => ({ raw: ok('x'), closeAfterMs: 20 }));
      try {
        const r = await drive(node, { host: '127.0.0.1', port: srv.port, steps: [
          { requests: [GET], waitMs: 200 }, { requests: [GET] },
        ] });
        assert.deepStrictEqual(r.results.map((x) => x.status), [200, 200]);
        assert.strictEqual(srv.seen.connections, 2);
      } finally { await srv.close(); }
    });

    test('a chunked answer with 40 headers and a repeated one', async () => {
      let head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Dup: a\r\nX-Dup: b\r\n';
      for (let i = 0; i < 40; i++) head += `X-H-${i}: v${i}\r\n`;
      const raw = `${head}\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`;
      const srv = await rawServer(() => ({ raw }));
      try {
        const { results: [r] } = await drive(node, { host: '127.0.0.1', port: srv.port, steps: [{ requests: [GET] }] });
        assert.strictEqual(r.status, 200);
        assert.strictEqual(r.headers['x-dup'], 'a, b');
        assert.strictEqual(r.headers['x-h-0'], 'v0');
        assert.strictEqual(r.headers['x-h-39'], 'v39');
        assert.strictEqual(r.bodySum, crypto.createHash('sha256').update('hello world').digest('hex'));
      } finally { await srv.close(); }
    });

    test('7 MB each way', async () => {
      const big = Buffer.alloc(7 * 1024 * 1024, 'r');
      const srv = await rawServer((req) => ({ raw: req.method === 'POST' ? ok(big) : ok('') }));
      try {
        const { results: [r] } = await drive(node, { host: '127.0.0.1', port: srv.port, steps: [
          { requests: [{ method: 'POST', path: '/big', bodySize: 7 * 1024 * 1024 }] }] });
        assert.strictEqual(srv.seen.requests[0].body.length, 7 * 1024 * 1024);
        assert.strictEqual(r.bodyLength, big.length);
        assert.strictEqual(r.bodySum, crypto.createHash('sha256').update(big).digest('hex'));
      } finally { await srv.close(); }
    });

    test('a non-2xx status is an answer, not a failure', async () => {
      const srv = await rawServer(() => ({ raw: 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 2\r\n\r\n{}' }));
      try {
        const { results: [r] } = await drive(node, { host: '127.0.0.1', port: srv.port, steps: [{ requests: [GET] }] });
        assert.strictEqual(r.status, 413);
        assert.strictEqual(r.bodyLength, 2);
      } finally { await srv.close(); }
    });

    test('failures: refused, hung up mid-answer, garbage, a line break in a header', async () => {
      const port = await closedPort();
      const refused = await drive(node, { host: '127.0.0.1', port, steps: [{ requests: [GET] }] });
      assert.strictEqual(refused.results[0].code, 'ECONNREFUSED');

      const half = await rawServer(() => ({ raw: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', closeAfterMs: 0 }));
      const garbage = await rawServer(() => ({ raw: 'SMTP ready\r\n\r\n' }));
      try {
        const hung = await drive(node, { host: '127.0.0.1', port: half.port, steps: [{ requests: [GET] }] });
        assert.match(hung.results[0].error, /socket hang up|ECONNRESET/);
        const bad = await drive(node, { host: '127.0.0.1', port: garbage.port, steps: [{ requests: [GET] }] });
        assert.ok(bad.results[0].error, 'a non-HTTP answer fails the request');
        const split = await drive(node, { host: '127.0.0.1', port: garbage.port, steps: [
          { requests: [{ ...GET, headers: { 'X-Evil': 'a\r\nX-Injected: 1' } }] }] });
        assert.match(split.results[0].error, /line break/);
        assert.strictEqual(garbage.seen.requests.length, 1, 'nothing was sent for the split header');
      } finally { await half.close(); await garbage.close(); }
    });

    test('no deprecation warning, even under --pending-deprecation', async () => {
      const srv = await rawServer(() => ({ raw: ok('x') }));
      try {
        const r = await drive(node, { host: '127.0.0.1', port: srv.port, steps: [{ requests: [GET] }] }, ['--pending-deprecation']);
        assert.strictEqual(r.results[0].status, 200);
        assert.strictEqual(r.stderr, '');
      } finally { await srv.close(); }
    });
  });
}
