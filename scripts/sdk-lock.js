#!/usr/bin/env node
'use strict';
// Regenerates an AWS SDK lock file for base-images/sdk/: every npm tarball that must land
// in /var/runtime/node_modules for one runtime, pinned by integrity.
//
//   node scripts/sdk-lock.js <runtime> <package@version>... [-o <file>]
//   e.g. node scripts/sdk-lock.js nodejs16.x aws-sdk@2.1083.0
//
// It asks npm to resolve the tree (npm install --package-lock-only --ignore-scripts, in a
// temporary directory, with the registry from npm's own configuration, forcing npm to
// record tarball addresses even where the config omits them; nothing is
// downloaded or run) and converts package-lock.json into
//   {"lockfileVersion":1,"runtime":..,"packages":[{path,name,version,tarball,integrity}]}
// sorted by path, where path is relative to /var/runtime and tarball relative to the
// registry root (no host name: the builder prepends the registry it is configured with).
// Development, optional and platform-specific packages are left out.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

function die(msg) {
  process.stderr.write(`sdk-lock: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { specs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') args.out = argv[++i];
    else if (a === '-h' || a === '--help') args.help = true;
    else if (!args.runtime) args.runtime = a;
    else args.specs.push(a);
  }
  return args;
}

function splitSpec(spec) {
  const at = spec.lastIndexOf('@');
  if (at <= 0) die(`'${spec}' must be name@version (an exact version keeps the lock reproducible)`);
  return [spec.slice(0, at), spec.slice(at + 1)];
}

function resolveTree(specs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lbox-sdk-lock-'));
  try {
    const dependencies = {};
    for (const s of specs) {
      const [name, version] = splitSpec(s);
      dependencies[name] = version;
    }
    fs.writeFileSync(path.join(dir, 'package.json'),
      JSON.stringify({ name: 'lbox-runtime-sdk', version: '0.0.0', private: true, dependencies }, null, 2));
    execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund',
      '--lockfile-version', '3', '--no-omit-lockfile-registry-resolved'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    return JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
  } catch (e) {
    die(`npm could not resolve ${specs.join(' ')}: ${e.message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function registryRoot() {
  let reg = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
  if (!reg.endsWith('/')) reg += '/';
  return reg;
}

// The name a lock key installs: the part after the last node_modules/.
function nameOf(key) {
  return key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

function convert(lock, runtime, registry) {
  const out = [];
  for (const [key, entry] of Object.entries(lock.packages || {})) {
    if (key === '' || entry.link) continue;
    if (entry.dev || entry.optional || entry.devOptional) continue;
    if (Array.isArray(entry.os) && !entry.os.includes('linux')) continue;
    if (!entry.resolved || !entry.integrity) die(`${key} has no resolved tarball or integrity in npm's lock`);
    if (!entry.resolved.startsWith(registry)) {
      die(`${key} resolves to ${entry.resolved}, outside the configured registry ${registry}`);
    }
    out.push({
      path: key,
      name: entry.name || nameOf(key),
      version: entry.version,
      tarball: entry.resolved.slice(registry.length),
      integrity: entry.integrity,
    });
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { lockfileVersion: 1, runtime, packages: out };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help || !args.runtime || args.specs.length === 0) {
    process.stdout.write('usage: sdk-lock.js <runtime> <package@version>... [-o file]\n');
    process.exit(args.help ? 0 : 2);
  }
  if (!/^nodejs\d+\.x$/.test(args.runtime)) die(`unknown runtime '${args.runtime}' (nodejs14.x, nodejs16.x, nodejs18.x)`);
  const lock = convert(resolveTree(args.specs), args.runtime, registryRoot());
  const text = JSON.stringify(lock, null, 1) + '\n';
  if (!args.out) {
    process.stdout.write(text);
    return;
  }
  const tmp = `${args.out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, args.out);
  process.stderr.write(`sdk-lock: wrote ${lock.packages.length} packages to ${args.out}\n`);
}

main();
