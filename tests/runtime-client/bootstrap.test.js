'use strict';
// /var/runtime/bootstrap under bash (the image's /bin/sh, as on AL2) and dash (strict POSIX),
// at its real paths: bubblewrap gives each run a private /var with the runtime directory
// and a node at /var/lang/bin/node. A stand-in node prints its arguments and environment;
// the last case starts the real client under Node 18 against the fake Runtime API.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { runClient, ROOT } = require('./harness');

const BOOTSTRAP = path.join(ROOT, 'base-images/runtime/bootstrap');

const FAKE_NODE = `#!/bin/sh
echo "ARGS=$*"
echo "NODE_PATH=\${NODE_PATH-<unset>}"
echo "NODE_EXTRA_CA_CERTS=\${NODE_EXTRA_CA_CERTS-<unset>}"
echo "AWS_EXECUTION_ENV=\${AWS_EXECUTION_ENV-<unset>}"
`;

function runtimeDir(runtimeId) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lbox-bootstrap-'));
  fs.copyFileSync(BOOTSTRAP, path.join(dir, 'bootstrap'));
  fs.chmodSync(path.join(dir, 'bootstrap'), 0o755);
  if (runtimeId !== null) fs.writeFileSync(path.join(dir, 'runtime-id'), runtimeId);
  return dir;
}

// Runs `<shell> /var/runtime/bootstrap` in a private /var; node: path of the binary to
// mount at /var/lang/bin/node; extra: [host path, sandbox path] binds.
function sandboxed(shell, rtDir, node, env, extra) {
  const args = ['--dev-bind', '/', '/', '--tmpfs', '/var', '--bind', rtDir, '/var/runtime',
    '--ro-bind', node, '/var/lang/bin/node', '--chdir', '/'];
  for (const [from, to] of extra || []) args.push('--bind', from, to);
  args.push(shell, '/var/runtime/bootstrap');
  return spawnSync('bwrap', args, { env: Object.assign({ PATH: '/usr/bin:/bin' }, env), encoding: 'utf8' });
}

function fakeNode() {
  const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lbox-fakenode-')), 'node');
  fs.writeFileSync(p, FAKE_NODE, { mode: 0o755 });
  return p;
}

function parse(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

const node = fakeNode();

for (const shell of ['bash', 'dash']) {
  test(`${shell}: nodejs18.x defaults and heap flags from 128 MB`, () => {
    const r = sandboxed(shell, runtimeDir('nodejs18.x\n'), node, { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128', AWS_REGION: 'eu-west-1' });
    assert.strictEqual(r.status, 0, r.stderr);
    const o = parse(r.stdout);
    assert.strictEqual(o.ARGS, '--expose-gc --max-http-header-size 81920 --max-semi-space-size=6 --max-old-space-size=116 /var/runtime/lib/main.js');
    assert.strictEqual(o.NODE_PATH, '/opt/nodejs/node18/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task');
    assert.strictEqual(o.NODE_EXTRA_CA_CERTS, '/var/runtime/ca-cert.pem');
    assert.strictEqual(o.AWS_EXECUTION_ENV, 'AWS_Lambda_nodejs18.x');
  });

  test(`${shell}: nodejs14.x id without newline, user NODE_PATH and CA kept, 3008 MB`, () => {
    const rt = runtimeDir('nodejs14.x');
    fs.writeFileSync(path.join(rt, 'index.js'), ''); // as the builder leaves it for 14.x only
    const r = sandboxed(shell, rt, node, {
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '3008', NODE_PATH: '/mine', NODE_EXTRA_CA_CERTS: '/my.pem',
    });
    assert.strictEqual(r.status, 0, r.stderr);
    const o = parse(r.stdout);
    assert.strictEqual(o.ARGS, '--expose-gc --max-http-header-size 81920 --max-semi-space-size=150 --max-old-space-size=2708 /var/runtime/index.js');
    assert.strictEqual(o.NODE_PATH, '/mine');
    assert.strictEqual(o.NODE_EXTRA_CA_CERTS, '/my.pem');
    assert.strictEqual(o.AWS_EXECUTION_ENV, 'AWS_Lambda_nodejs14.x');
  });

  test(`${shell}: nodejs16.x uses the system CA bundle; bad memory sizes leave V8 defaults`, () => {
    for (const mem of ['abc', '', '12x', '0128']) {
      const r = sandboxed(shell, runtimeDir('nodejs16.x\n'), node, { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: mem });
      assert.strictEqual(r.status, 0, r.stderr);
      const o = parse(r.stdout);
      assert.strictEqual(o.ARGS, '--expose-gc --max-http-header-size 81920 /var/runtime/lib/main.js', `memory '${mem}'`);
      assert.strictEqual(o.NODE_EXTRA_CA_CERTS, '/etc/pki/tls/certs/ca-bundle.crt');
      assert.match(o.NODE_PATH, /^\/opt\/nodejs\/node16\/node_modules:/);
    }
  });

  test(`${shell}: nodejs18.x in China and three-dash regions uses the system CA bundle`, () => {
    for (const region of ['cn-north-1', 'us-isob-east-1']) {
      const r = sandboxed(shell, runtimeDir('nodejs18.x'), node, { AWS_REGION: region });
      assert.strictEqual(parse(r.stdout).NODE_EXTRA_CA_CERTS, '/etc/pki/tls/certs/ca-bundle.crt', region);
    }
  });

  test(`${shell}: AWS_LAMBDA_EXEC_WRAPPER missing (127), not executable (126), run with node's command line`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lbox-wrapper-'));
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
    const wrapper = path.join(dir, 'wrapper');
    fs.writeFileSync(wrapper, '#!/bin/sh\necho "WRAPPED=$1"\nexec "$@"\n', { mode: 0o755 });

    let r = sandboxed(shell, runtimeDir('nodejs18.x'), node, { AWS_LAMBDA_EXEC_WRAPPER: '/nonexistent/wrap' });
    assert.strictEqual(r.status, 127);
    assert.strictEqual(r.stdout, '/nonexistent/wrap: does not exist\n');

    r = sandboxed(shell, runtimeDir('nodejs18.x'), node, { AWS_LAMBDA_EXEC_WRAPPER: plain });
    assert.strictEqual(r.status, 126);
    assert.strictEqual(r.stdout, `${plain}: is not an executable\n`);

    r = sandboxed(shell, runtimeDir('nodejs18.x'), node, { AWS_LAMBDA_EXEC_WRAPPER: wrapper });
    assert.strictEqual(r.status, 0, r.stderr);
    const o = parse(r.stdout);
    assert.strictEqual(o.WRAPPED, '/var/lang/bin/node');
    assert.strictEqual(o.ARGS, '--expose-gc --max-http-header-size 81920 /var/runtime/lib/main.js');
  });

  test(`${shell}: a missing or malformed runtime-id is a clear error`, () => {
    for (const id of [null, 'python3.9', 'nodejsXX.x', '']) {
      const r = sandboxed(shell, runtimeDir(id), node, {});
      assert.strictEqual(r.status, 1, `id ${id}`);
      assert.match(r.stderr, /runtime-id must name the runtime/);
      assert.strictEqual(r.stdout, '');
    }
  });
}

// /var/runtime as the builder lays it out for nodejs18.x: no index.js (nodejs14.x's entry).
function realRuntimeDir() {
  const rt = runtimeDir('nodejs18.x');
  fs.cpSync(path.join(ROOT, 'base-images/runtime/lib'), path.join(rt, 'lib'), { recursive: true });
  return rt;
}

function runBootstrap(rt, task, extra) {
  const node18 = process.env.NODE18;
  assert.ok(node18, 'NODE18 must point at a node 18 binary');
  return runClient(Object.assign({
    node: 'bwrap',
    args: ['--die-with-parent', '--dev-bind', '/', '/', '--tmpfs', '/var', '--bind', rt, '/var/runtime', '--ro-bind', node18, '/var/lang/bin/node',
      '--bind', task, '/var/task', '--chdir', '/var/task', 'bash', '/var/runtime/bootstrap'],
    handler: 'index.handler', taskRoot: '/var/task', cwd: '/',
  }, extra));
}

test('bash: the real client starts through the bootstrap under Node 18 and serves an invoke', async () => {
  const task = fs.mkdtempSync(path.join(os.tmpdir(), 'lbox-task-'));
  fs.writeFileSync(path.join(task, 'index.js'), `exports.handler = async () => ({
  env: process.env.AWS_EXECUTION_ENV, np: process.env.NODE_PATH, argv: process.execArgv,
  main: typeof require.main, argv1: process.argv[1] });
`);
  const r = await runBootstrap(realRuntimeDir(), task, { events: [{}], env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256' } });
  assert.deepStrictEqual(JSON.parse(r.posts[0].body), {
    env: 'AWS_Lambda_nodejs18.x',
    np: '/opt/nodejs/node18/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task',
    argv: ['--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=12', '--max-old-space-size=231'],
    // As under Lambda's ES module entry, /var/runtime/index.mjs.
    main: 'undefined', argv1: '/var/runtime/index.mjs',
  });
});

test('bash: Node 18, code without index.js: the default handler fails to import, as on Lambda', async () => {
  const task = fs.mkdtempSync(path.join(os.tmpdir(), 'lbox-task-'));
  fs.writeFileSync(path.join(task, 'package.json'), '{}\n');
  const r = await runBootstrap(realRuntimeDir(), task, { events: [], exits: true });
  assert.strictEqual(r.code, 129);
  assert.strictEqual(r.posts[0].path, '/2018-06-01/runtime/init/error');
  const b = JSON.parse(r.posts[0].body);
  assert.strictEqual(b.errorType, 'Runtime.ImportModuleError');
  assert.strictEqual(b.errorMessage, "Error: Cannot find module 'index'\nRequire stack:\n- /var/runtime/index.mjs");
});
