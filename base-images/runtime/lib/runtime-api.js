'use strict';
// HTTP client of the Lambda Runtime API (2018-06-01). One keep-alive connection is reused
// for every call; GET next has no timeout because the platform holds it until an event comes.
// Like AWS's client, a non-2xx answer to a POST is not an error for the function: the
// platform has already decided what the invoker sees (e.g. 413 for an oversized response).
//
// The plain requests go through tcp-transport.js, which keeps 'http' off a cold start; Node's
// 'http' is loaded only for a streamed response, or for all requests where that transport
// cannot be used (a host name rather than an IPv4 address, a Node without its internals, or
// transport 'http' asked for). What error reports need is required when they happen.

const { TcpTransport } = require('./tcp-transport.js');

const PREFIX = '/2018-06-01/runtime';

// Node refuses header values with control or non-Latin-1 characters; percent-encode them
// instead of letting a strange error name crash the report of that error.
function headerSafe(value) {
  return String(value).replace(/[^\t\x20-\x7e]/g, (c) => {
    try { return encodeURIComponent(c); } catch (_) { return '?'; }
  });
}

function serialize(body) {
  let text;
  try {
    text = JSON.stringify(body === undefined ? null : body);
  } catch (_) {
    throw new Error('Unable to stringify response body');
  }
  // A function, a symbol or a toJSON() giving undefined serialises to nothing, which AWS's
  // client passes to its native add-on, and the add-on refuses with this error.
  if (text === undefined) throw new TypeError('Wrong arguments');
  return text;
}

function fatal(what, err) {
  process.stderr.write(`lbox runtime: Runtime API request ${what} failed: ${err && err.message}\n`);
  process.exit(1);
}

class RuntimeApi {
  // options.transport: 'http' to use Node's 'http' for every request.
  constructor(hostPort, options) {
    const s = String(hostPort || '');
    const colon = s.lastIndexOf(':');
    if (colon <= 0) {
      throw new Error(`AWS_LAMBDA_RUNTIME_API must be host:port, got '${s}'`);
    }
    this.hostname = s.slice(0, colon);
    this.port = parseInt(s.slice(colon + 1), 10);
    const wanted = (options && options.transport) || 'tcp';
    if (wanted !== 'tcp' && wanted !== 'http') throw new Error(`unknown Runtime API transport '${wanted}'`);
    this.transport = wanted === 'tcp' ? TcpTransport.create(this.hostname, this.port) : undefined;
    this.agent = undefined;
  }

  // Node's 'http' and one keep-alive agent, made on first use.
  _http() {
    const http = require('http');
    if (!this.agent) this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    return http;
  }

  _request(method, path, headers, body, done) {
    if (this.transport) {
      this.transport.request(method, path, headers, body, done, (e) => fatal(`${method} ${path}`, e));
      return;
    }
    const req = this._http().request({
      hostname: this.hostname, port: this.port, path, method, headers, agent: this.agent,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => done(res, Buffer.concat(chunks)));
      res.on('error', (e) => fatal(`${method} ${path}`, e));
    });
    req.on('error', (e) => fatal(`${method} ${path}`, e));
    req.end(body);
  }

  // Resolves to {body: string, headers: {lower-cased name: value}}.
  nextInvocation() {
    return new Promise((resolve) => {
      this._request('GET', PREFIX + '/invocation/next', {}, undefined, (res, body) => {
        if (res.statusCode !== 200) {
          // 403/500 here mean the platform wants this runtime gone.
          fatal('GET next', new Error(`HTTP ${res.statusCode}: ${body.toString('utf8')}`));
        }
        resolve({ body: body.toString('utf8'), headers: res.headers });
      });
    });
  }

  // Serializes synchronously (throws 'Unable to stringify response body') before sending.
  postInvocationResponse(result, id, callback) {
    const body = Buffer.from(serialize(result), 'utf8');
    this._request('POST', `${PREFIX}/invocation/${encodeURIComponent(id)}/response`, {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
    }, body, () => callback());
  }

  postInvocationError(error, id, callback) {
    const { toRapidResponse, xrayCause } = require('./errors.js');
    const body = Buffer.from(serialize(toRapidResponse(error)), 'utf8');
    const headers = { 'Content-Type': 'application/json', 'Content-Length': body.length };
    const cause = xrayCause(error);
    if (cause) headers['Lambda-Runtime-Function-XRay-Error-Cause'] = headerSafe(cause);
    this._request('POST', `${PREFIX}/invocation/${encodeURIComponent(id)}/error`, headers, body, () => callback());
  }

  postInitError(error, callback) {
    const { toRapidResponse } = require('./errors.js');
    const response = toRapidResponse(error);
    const body = Buffer.from(serialize(response), 'utf8');
    this._request('POST', PREFIX + '/init/error', {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
      'Lambda-Runtime-Function-Error-Type': headerSafe(response.errorType),
    }, body, () => callback());
  }

  // A chunked POST of the response in streaming mode; see response-stream.js.
  streamInvocationResponse(id, onDone, highWaterMark) {
    const { createResponseStream } = require('./response-stream.js');
    const http = this._http();
    if (typeof highWaterMark === 'number') {
      const net = require('net');
      // The socket's buffer size is what bounds how far the handler can run ahead.
      this.agent.createConnection = (opts, cb) => net.createConnection(Object.assign({}, opts, { highWaterMark }), cb);
    }
    const stream = createResponseStream((headers, onResponse) => http.request({
      hostname: this.hostname, port: this.port, method: 'POST', agent: this.agent, headers,
      path: `${PREFIX}/invocation/${encodeURIComponent(id)}/response`,
    }, onResponse));
    return {
      request: stream.request,
      responseDone: stream.responseDone.then(() => { if (onDone) onDone(); }),
    };
  }
}

module.exports = { RuntimeApi };
