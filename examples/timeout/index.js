// Sleeps event.ms milliseconds (default: longer than any timeout). The module-level counter
// shows a fresh runtime after a timeout; the /tmp file shows /tmp survives the reset.
const fs = require('fs');

// INIT_SLEEP_MS: a slow module load, to overrun Lambda's 10 s init limit.
if (process.env.INIT_SLEEP_MS) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.INIT_SLEEP_MS));
}

let invocations = 0;

exports.handler = async (event, context) => {
  invocations += 1;
  let marker = null;
  try {
    marker = fs.readFileSync('/tmp/timeout-marker', 'utf8');
  } catch (e) {
    // first invoke in this environment
  }
  fs.writeFileSync('/tmp/timeout-marker', String(Date.now()));
  const ms = event && typeof event.ms === 'number' ? event.ms : 1e9;
  console.log(`sleeping ${ms} ms`);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { invocations, tmpKept: marker !== null, remaining: context.getRemainingTimeInMillis() };
};
