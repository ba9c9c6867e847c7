'use strict';
// Preloaded (-r) by coldstart.js --probe into a runtime client: measures inside the process,
// from the first line of the main module to the moment the client issues GET next and the
// POST of the first answer, without node's own boot (the noisiest part of a cold start).
// Prints one JSON line on stderr through process._rawDebug (stderr untouched).

const Module = require('module');

const now = () => Number(process.hrtime.bigint()) / 1e6;
const load = Module._load;
let start;
let hooked = false;
const marks = {};

Module._load = function probeLoad(request, parent, isMain) {
  if (isMain && start === undefined) start = now();
  const exported = load.apply(this, arguments);
  if (request === 'http' && !hooked) {
    hooked = true;
    const request0 = exported.request;
    exported.request = function probeRequest(options) {
      const what = options && options.method === 'POST' ? 'post' : 'get';
      if (marks[what] === undefined) {
        marks[what] = now() - start;
        if (what === 'post') process._rawDebug(`PROBE ${JSON.stringify(marks)}`);
      }
      return request0.apply(this, arguments);
    };
  }
  return exported;
};
