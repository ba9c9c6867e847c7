// A hostile function: each event.case tries one escape or exhaustion. The system-call cases
// run ./abuse (abuse.c, built statically by tests/integration/invoke_abuse.sh).
const fs = require('fs');
const http = require('http');
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

exports.handler = async (event) => {
  switch (event.case) {
    case 'fill-tmp': return fillTmp();
    case 'read-host': return readHost(event.path);
    case 'write-rootfs': return writeRootfs();
    case 'stdout': return bigStdout(event.mb || 1024);
    case 'hijack': return hijack(event.id);
    case 'connect-host': return connectHost(event.port);
    case 'sleep':
      await new Promise((r) => setTimeout(r, event.ms || 1000));
      return { case: 'sleep', result: 'ok' };
    default: return sys(event.case, event.arg);
  }
};
