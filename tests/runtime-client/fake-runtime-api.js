'use strict';
// A small stand-in for Lambda's Runtime API (2018-06-01) for testing runtime clients: it
// hands out queued events on GET next (holding the request while the queue is empty),
// answers every POST with 202, and records each request (method, path, headers, body,
// trailers) in order.

const http = require('http');

let counter = 0;
function requestId() {
  counter += 1;
  const n = String(counter).padStart(12, '0');
  return `00000000-0000-4000-8000-${n}`;
}

class FakeRuntimeApi {
  constructor() {
    this.queue = [];
    this.waitingNext = [];
    this.requests = [];
    this.watchers = [];
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 0; // never close an idle runtime connection
  }

  start() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.address = `127.0.0.1:${this.server.address().port}`;
      resolve(this.address);
    }));
  }

  close() {
    for (const res of this.waitingNext) res.destroy();
    this.waitingNext = [];
    if (this.server.closeAllConnections) this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  // event: a string/Buffer sent as is, or a value sent as JSON. Returns the request id.
  enqueue(event, headers) {
    const id = (headers && headers['Lambda-Runtime-Aws-Request-Id']) || requestId();
    const body = Buffer.isBuffer(event) || typeof event === 'string' ? Buffer.from(event) : Buffer.from(JSON.stringify(event));
    const h = Object.assign({
      'Lambda-Runtime-Aws-Request-Id': id,
      'Lambda-Runtime-Deadline-Ms': String(Date.now() + 60000),
      'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:123456789012:function:test',
      'Lambda-Runtime-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
      'Content-Type': 'application/json',
    }, headers || {});
    for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
    this.queue.push({ body, headers: h });
    this.flush();
    return id;
  }

  flush() {
    while (this.queue.length && this.waitingNext.length) {
      const res = this.waitingNext.shift();
      const ev = this.queue.shift();
      res.writeHead(200, Object.assign({ 'Content-Length': ev.body.length }, ev.headers));
      res.end(ev.body);
    }
  }

  onRequest(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rec = {
        method: req.method, path: req.url, headers: req.headers,
        body: Buffer.concat(chunks), trailers: req.trailers, at: process.hrtime.bigint(),
      };
      this.requests.push(rec);
      this.notify();
      if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
        this.waitingNext.push(res);
        this.flush();
        return;
      }
      res.writeHead(202, { 'Content-Type': 'application/json' });
      res.end('{"status":"OK"}');
    });
  }

  // The POSTs that report a result: /response, /error, /init/error.
  get posts() {
    return this.requests.filter((r) => r.method === 'POST');
  }

  notify() {
    this.watchers = this.watchers.filter((w) => !w());
  }

  // Resolves when predicate(this) is true; rejects after timeoutMs.
  waitFor(predicate, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what || 'condition'}`)), timeoutMs || 10000);
      const check = () => {
        if (!predicate(this)) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      if (!check()) this.watchers.push(check);
    });
  }
}

module.exports = { FakeRuntimeApi };
