// Every way a function can fail, picked by event.mode, to show the error each one gives the
// invoker (and how the environment recovers). FAIL_INIT=1 makes the module fail to load.
if (process.env.FAIL_INIT === '1') {
  throw new Error('refusing to initialise: FAIL_INIT=1');
}

class BudgetExhausted extends Error {
  constructor(message) {
    super(message);
    this.name = 'BudgetExhausted';
  }
}

let invocations = 0;

// Not async: a handler with a callback parameter that returns nothing is callback-style;
// returning a promise makes it async-style. Both are used below.
exports.handler = (event, context, callback) => {
  invocations += 1;
  const mode = (event && event.mode) || 'ok';
  switch (mode) {
    case 'ok':
      return Promise.resolve({ ok: true, invocations });
    case 'throw':
      // event.messageBytes: a message that long (the runtime repeats it in a header too).
      throw new Error(event.messageBytes ? 'm'.repeat(event.messageBytes) : 'boom');
    case 'custom':
      return Promise.reject(new BudgetExhausted('no budget left'));
    case 'reject':
      return Promise.reject(new TypeError('bad type'));
    case 'string':
      throw 'oops'; // eslint-disable-line no-throw-literal
    case 'callback':
      callback(new Error('callback error'));
      return undefined;
    case 'uncaught':
      setTimeout(() => { throw new Error('crash outside the handler'); }, 0);
      return new Promise(() => {});
    case 'exit':
      process.exit(event.code === undefined ? 3 : event.code);
      return undefined;
    case 'oom': {
      // event.tmpMB: first write that much to /tmp (kept), to show that a full /tmp does
      // not lend the function memory: /tmp is disk on Lambda, counted apart.
      if (event.tmpMB) require('fs').writeFileSync('/tmp/oom-fill', Buffer.alloc(event.tmpMB << 20, 1));
      // event.title: first rename the process (its Name in /proc/<pid>/status), as a function
      // hiding from a memory watch that reads that file might.
      if (event.title) process.title = event.title;
      // Memory outside V8's heap, touched so it is really used: only the sandbox's memory
      // limit stops it.
      const hog = [];
      for (;;) hog.push(Buffer.alloc(16 * 1024 * 1024, 1));
    }
    case 'big':
      return Promise.resolve('x'.repeat(7 * 1024 * 1024));
    case 'stream-bytes':
      return Promise.resolve('y'.repeat(event.size || 1024));
    default:
      return Promise.reject(new Error(`unknown mode ${mode}`));
  }
};
