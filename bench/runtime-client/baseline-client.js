'use strict';
// The floor for coldstart.js: the least a Node.js runtime client can do for one buffered
// invoke (require the handler, GET next, call it, POST the JSON answer), nothing else.

const http = require('http');

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const [file, name] = process.env._HANDLER.split('.');
const handler = require(`${process.env.LAMBDA_TASK_ROOT}/${file}`)[name];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime/invocation/';

http.request({ host, port, agent, method: 'GET', path: base + 'next' }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', async () => {
    const id = res.headers['lambda-runtime-aws-request-id'];
    const result = await handler(JSON.parse(Buffer.concat(chunks)), { awsRequestId: id });
    const body = JSON.stringify(result);
    http.request({ host, port, agent, method: 'POST', path: `${base}${id}/response`,
      headers: { 'Content-Length': Buffer.byteLength(body) } }).end(body);
  });
}).end();
