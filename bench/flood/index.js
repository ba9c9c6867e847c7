// The function of bench/host_network_flood.sh. {"flood": ms, "port": p}: 200 loops that
// connect to 127.0.0.1:p and reconnect as soon as the connection ends, for ms;
// {"crash": true}: the runtime exits (the next invoke initialises again); {"sleep": ms}: a
// pause; else a reply.
const net = require('net');

function flood(port, ms) {
  const end = Date.now() + ms;
  let attempts = 0;
  return new Promise((resolve) => {
    let running = 200;
    const loop = () => {
      if (Date.now() > end) {
        if (--running === 0) resolve({ attempts });
        return;
      }
      attempts++;
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => setImmediate(loop));
    };
    for (let i = 0; i < 200; i++) loop();
  });
}

exports.handler = async (event) => {
  if (event.flood) return flood(event.port || 9001, event.flood);
  if (event.crash) process.exit(1);
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep));
  return { ok: true };
};
