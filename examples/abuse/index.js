// A hostile function: each event.case tries one escape or exhaustion. The system-call cases
// run ./abuse (abuse.c, built statically by tests/integration/invoke_abuse.sh).
const fs = require('fs');
const http = require('http');
const net = require('net');
const { execFileSync } = require('child_process');

function sys(name, arg) {
  const out = execFileSync(`${__dirname}/abuse`, arg ? [name, String(arg)] : [name], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop());
}

function fillTmp() {
  const chunk = Buffer.alloc(1 << 20, 7);
  const fd = fs.openSync('/tmp/fill', 'w');
  let written = 0;
  try {
    for (;;) {
      fs.writeSync(fd, chunk);
      written += chunk.length;
    }
  } catch (e) {
    return { case: 'fill-tmp', result: e.code, writtenMB: Math.round(written / 1048576) };
  } finally {
    fs.closeSync(fd);
    fs.unlinkSync('/tmp/fill');
  }
}

function readHost(path) {
  try {
    return { case: 'read-host', result: 'ok', content: fs.readFileSync(path, 'utf8') };
  } catch (e) {
    return { case: 'read-host', result: e.code };
  }
}

function writeRootfs() {
  const results = {};
  for (const p of ['/var/task/evil', '/var/runtime/bootstrap', '/etc/passwd', '/bin/evil']) {
    try {
      fs.writeFileSync(p, 'evil');
      results[p] = 'written';
    } catch (e) {
      results[p] = e.code;
    }
  }
  return { case: 'write-rootfs', results };
}

function bigStdout(mb) {
  const line = 'z'.repeat(1023) + '\n';
  const block = line.repeat(1024);
  // Synchronous writes: the pipe's reader (the runner) sets the pace.
  for (let i = 0; i < mb; i++) fs.writeSync(1, block);
  return { case: 'stdout', result: 'ok', mb };
}

// POSTs a response for another invoke's request id to 127.0.0.1:9001: inside this sandbox
// that address is this environment's own Runtime API, which does not know the id.
function hijack(id) {
  return new Promise((resolve) => {
    const body = JSON.stringify('hijacked');
    const req = http.request({
      host: '127.0.0.1', port: 9001, method: 'POST',
      path: `/2018-06-01/runtime/invocation/${id}/response`,
      headers: { 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ case: 'hijack', status: res.statusCode, body: data }));
    });
    req.on('error', (e) => resolve({ case: 'hijack', result: e.code }));
    req.end(body);
  });
}

// GETs http://127.0.0.1:<port>/: with --network host that is the host's loopback, else
// the sandbox's own, where nothing listens.
function connectHost(port) {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ case: 'connect-host', status: res.statusCode, body: data,
        runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API }));
    }).on('error', (e) => resolve({ case: 'connect-host', result: e.code }));
  });
}

// The Runtime API's own address, and a raw request to it (net, not http: these requests are
// broken on purpose).
const [apiHost, apiPort] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

// Opens n connections that each promise a 6.2 MB body, send half of it and go away: the
// Runtime API must let go of each (its slot and the body's share of its memory budget).
async function halfBodies(n) {
  const half = 'x'.repeat(3000000);
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect(+apiPort, apiHost);
    s.on('error', resolve);
    s.on('close', resolve);
    s.on('connect', () => {
      s.write('POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n' +
              'Content-Length: 6200000\r\n\r\n' + half);
      s.destroy();
    });
  })));
  return { case: 'half-bodies', result: 'ok', n };
}

// Answers its own invoke, then never asks for the next event.
function answerAndHang(requestId) {
  const body = JSON.stringify({ case: 'answer-and-hang', result: 'ok' });
  const req = http.request({
    host: apiHost, port: +apiPort, method: 'POST',
    path: `/2018-06-01/runtime/invocation/${requestId}/response`,
    headers: { 'content-length': Buffer.byteLength(body) },
  });
  req.on('error', () => {});
  req.end(body);
  return new Promise(() => setInterval(() => {}, 1000)); // busy, never done
}

// Streams its answer for ever, 64 KiB lines of 'S', as fast as the reader takes them.
async function streamForever(requestId) {
  const s = net.connect(+apiPort, apiHost);
  s.on('error', () => {});
  await new Promise((r) => s.on('connect', r));
  s.write(`POST /2018-06-01/runtime/invocation/${requestId}/response HTTP/1.1\r\nHost: x\r\n` +
          'Lambda-Runtime-Function-Response-Mode: streaming\r\n' +
          'Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n');
  const line = Buffer.alloc(65536, 'S');
  line[line.length - 1] = 10;
  for (;;) {
    if (!s.write(line.length.toString(16) + '\r\n' + line.toString() + '\r\n'))
      await new Promise((r) => s.once('drain', r));
  }
}

exports.handler = async (event, context) => {
  switch (event.case) {
    case 'fill-tmp': return fillTmp();
    case 'read-host': return readHost(event.path);
    case 'write-rootfs': return writeRootfs();
    case 'stdout': return bigStdout(event.mb || 1024);
    case 'hijack': return hijack(event.id);
    case 'connect-host': return connectHost(event.port);
    case 'sleep':
      await sleepMs(event.ms || 1000);
      return { case: 'sleep', result: 'ok' };
    case 'half-bodies': return halfBodies(event.n || 33);
    case 'answer-and-hang': return answerAndHang(context.awsRequestId);
    case 'stream-forever': return streamForever(context.awsRequestId);
    case 'exit': process.exit(event.code || 1);
    default: return sys(event.case, event.arg);
  }
};
