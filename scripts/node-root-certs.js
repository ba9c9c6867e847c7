#!/usr/bin/env node
// Prints the SHA-256 fingerprints of the root certificates compiled into the node that runs
// this script, one per line, sorted. The builder leaves these out of /var/runtime/ca-cert.pem
// (NODE_EXTRA_CA_CERTS), which, as on Lambda, holds only the system's certificates that node
// lacks: node parses that file at every start, and the whole bundle would cost ~85 ms.
// Usage: /path/to/node-<version>/bin/node scripts/node-root-certs.js > base-images/node-roots/<runtime>.txt
'use strict';
const crypto = require('crypto');
const fps = require('tls').rootCertificates.map((pem) => {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return crypto.createHash('sha256').update(der).digest('hex');
});
process.stdout.write(fps.sort().join('\n') + '\n');
