'use strict';
// The Runtime API's plain requests (GET next, the POSTs of a buffered answer or an error),
// written as HTTP/1.1 straight to Node's TCP handle and parsed by Node's own HTTP parser
// (llhttp, the parser 'http' itself uses).
//
// Why not 'http': the bootstrap's V8 flags make Node 18 reject its built-in code cache, and
// then loading 'http' (with 'net' and 'stream') takes 15-25 ms and its first request 5-10 ms
// more: a third of a cold start, paid by every function, even one that never touches the
// network. AWS's client avoids 'http' for the same reason, through a native add-on.
//
// One keep-alive connection to an IPv4 address and one request at a time (later ones wait
// their turn). While no request is open the handle is unref'd, as 'http' does with an idle
// keep-alive socket: 'beforeExit' must still fire when the function's event loop drains.
// A connection the platform closed while idle is reopened by the next request; one that
// fails during a request fails that request.

const { binding } = require('./bindings.js');

const UV_EOF = -4095;
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

// What this file needs from Node 14-18's internals, or undefined if any piece is missing.
function nodeInternals() {
  const tcp = binding('tcp_wrap');
  const stream = binding('stream_wrap');
  const parser = binding('http_parser');
  if (!tcp || !stream || !parser) return undefined;
  const got = {
    TCP: tcp.TCP,
    TCPConnectWrap: tcp.TCPConnectWrap,
    SOCKET: tcp.constants && tcp.constants.SOCKET,
    WriteWrap: stream.WriteWrap,
    state: stream.streamBaseState,
    kBytes: stream.kReadBytesOrError,
    kOffset: stream.kArrayBufferOffset,
    HTTPParser: parser.HTTPParser,
  };
  return Object.values(got).every((v) => v !== undefined) ? got : undefined;
}

function errnoError(what, errno) {
  let code = String(errno);
  try { code = binding('uv').errname(errno); } catch (_) { /* keep the number */ }
  return Object.assign(new Error(`${what} ${code}`), { errno, code });
}

// Header lines as given; a CR or LF would let a value start a new header or message.
function requestHead(method, path, host, headers, body) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n`;
  let hasLength = false;
  for (const name of Object.keys(headers)) {
    const line = `${name}: ${headers[name]}`;
    if (/[\r\n]/.test(line)) throw new Error(`header ${name} holds a line break`);
    if (name.toLowerCase() === 'content-length') hasLength = true;
    head += line + '\r\n';
  }
  if (body && !hasLength) head += `Content-Length: ${body.length}\r\n`;
  return Buffer.from(head + '\r\n', 'latin1');
}

// [name, value, name, value, ...] to {lower-cased name: value}, repeats joined by ', ' as
// 'http' joins them.
function headerObject(raw) {
  const out = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    out[name] = name in out ? `${out[name]}, ${raw[i + 1]}` : raw[i + 1];
  }
  return out;
}

class TcpTransport {
  // undefined unless host is an IPv4 address and this Node has the internals.
  static create(host, port) {
    if (!IPV4.test(host)) return undefined;
    const node = nodeInternals();
    return node && new TcpTransport(host, port, node);
  }

  constructor(host, port, node) {
    this.host = host;
    this.port = port;
    this.node = node;
    this.handle = null;
    this.queue = [];
    this.current = null;
    this.parser = new node.HTTPParser();
    const P = node.HTTPParser;
    // Node calls kOnHeaders with the first headers when a response has very many of them.
    this.parser[P.kOnHeaders] = (headers) => { this.current.rawHeaders.push(...headers); };
    this.parser[P.kOnHeadersComplete] = (_major, _minor, headers, _method, _url, status,
      _message, _upgrade, keepAlive) => {
      if (headers) this.current.rawHeaders.push(...headers);
      this.current.statusCode = status;
      this.current.keepAlive = keepAlive;
      return 0;
    };
    // Node 14 passes (buffer, start, length); 16 and 18 pass the body chunk alone.
    this.parser[P.kOnBody] = (b, start, length) => {
      this.current.chunks.push(typeof start === 'number' ? b.slice(start, start + length) : b);
    };
    this.parser[P.kOnMessageComplete] = () => { this.current.complete = true; };
  }

  // done(res {statusCode, headers}, body Buffer) or fail(err), once.
  request(method, path, headers, body, done, fail) {
    this.queue.push({ method, path, headers, body, done, fail });
    this._next();
  }

  _next() {
    if (this.current) return;
    const req = this.queue.shift();
    if (!req) {
      if (this.handle) this.handle.unref();
      return;
    }
    try {
      req.wire = requestHead(req.method, req.path, `${this.host}:${this.port}`, req.headers, req.body);
      if (req.body) req.wire = Buffer.concat([req.wire, req.body]);
    } catch (err) {
      req.fail(err);
      this._next();
      return;
    }
    this.current = Object.assign(req, { rawHeaders: [], chunks: [], statusCode: 0, keepAlive: true, complete: false });
    this.parser.initialize(this.node.HTTPParser.RESPONSE, {}, 0);
    if (this.handle) {
      this.handle.ref();
      this._write();
    } else {
      this._connect();
    }
  }

  _connect() {
    const { TCP, TCPConnectWrap, SOCKET } = this.node;
    const handle = new TCP(SOCKET);
    const connect = new TCPConnectWrap();
    connect.oncomplete = (status) => {
      if (this.handle !== handle) return; // dropped meanwhile
      if (status < 0) return this._drop(errnoError('connect', status));
      handle.setNoDelay(true);
      handle.onread = (arrayBuffer) => this._onRead(arrayBuffer);
      const err = handle.readStart();
      if (err) return this._drop(errnoError('read', err));
      this._write();
    };
    this.handle = handle;
    const err = handle.connect(connect, this.host, this.port);
    if (err) this._drop(errnoError('connect', err));
  }

  _write() {
    const handle = this.handle;
    const write = new this.node.WriteWrap();
    write.handle = handle;
    write.async = false;
    // Only a failure matters: the answer, not the write's end, completes the request. A
    // write cancelled by an earlier drop must not fail the request open now.
    write.oncomplete = (status) => {
      if (status < 0 && this.handle === handle) this._drop(errnoError('write', status));
    };
    // req.wire stays referenced until the request ends, so an async write's bytes live on.
    const err = handle.writeBuffer(write, this.current.wire);
    if (err) this._drop(errnoError('write', err));
  }

  _onRead(arrayBuffer) {
    const { state, kBytes, kOffset } = this.node;
    const n = state[kBytes];
    if (n === 0) return;
    if (n < 0) {
      this._drop(n === UV_EOF ? new Error('socket hang up') : errnoError('read', n));
      return;
    }
    if (!this.current) {
      this._drop(new Error('the Runtime API sent data with no request open'));
      return;
    }
    const parsed = this.parser.execute(Buffer.from(arrayBuffer, state[kOffset], n));
    if (parsed instanceof Error) {
      this._drop(parsed);
      return;
    }
    if (this.current.complete) this._finish();
  }

  _finish() {
    const req = this.current;
    this.current = null;
    if (!req.keepAlive) this._drop(null);
    req.done({ statusCode: req.statusCode, headers: headerObject(req.rawHeaders) }, Buffer.concat(req.chunks));
    this._next();
  }

  // Closes the connection; err, if any, fails the open request.
  _drop(err) {
    if (this.handle) {
      this.handle.onread = () => {};
      this.handle.close();
      this.handle = null;
    }
    const req = this.current;
    if (!req || !err) return;
    this.current = null;
    req.fail(err);
    this._next();
  }
}

module.exports = { TcpTransport };
