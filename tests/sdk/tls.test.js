'use strict';
// The official SDK over WSS (sslConnection: true) against a node whose
// certificate comes from `korum tls init`. The SDK runs in a child process
// that trusts the test CA through NODE_EXTRA_CA_CERTS, as a user's
// application would.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNode } = require('./harness');

const BIN = process.env.KORUM_BIN || path.resolve(__dirname, '../../bin/korum');

let node;
let certs;
before(async () => {
  certs = fs.mkdtempSync(path.join(os.tmpdir(), 'korum-sdk-tls-'));
  execFileSync(BIN, ['tls', 'init', '--dir', certs, '--nodes', 'n1']);
  node = await startNode(['--tls-cert', path.join(certs, 'n1.pem'), '--tls-key', path.join(certs, 'n1-key.pem')],
    { ca: fs.readFileSync(path.join(certs, 'ca.pem'), 'utf8') });
});
after(async () => {
  if (node) await node.stop();
  if (certs) fs.rmSync(certs, { recursive: true, force: true });
});

// The client: connects, writes and reads a document, and receives the
// notification of its own subscription. Prints one JSON line.
const client = `
const { Kuzzle, WebSocket } = require('kuzzle-sdk');
const [port, ssl] = [Number(process.argv[2]), process.argv[3] === 'true'];
const kuzzle = new Kuzzle(new WebSocket('localhost', { port, sslConnection: ssl }), { autoReconnect: false });
kuzzle.on('networkError', () => {});
(async () => {
  const timer = setTimeout(() => { console.error('timed out'); process.exit(3); }, 15000);
  let stage = 'connect';
  try {
    await kuzzle.connect();
    stage = 'requests';
    const now = await kuzzle.server.now();
    await kuzzle.index.create('tls');
    await kuzzle.collection.create('tls', 'docs');
    let notified;
    const seen = new Promise((r) => { notified = r; });
    await kuzzle.realtime.subscribe('tls', 'docs', {}, (n) => notified(n.result._id));
    const created = await kuzzle.document.create('tls', 'docs', { over: 'wss' }, 'd1', { refresh: 'wait_for' });
    const got = await kuzzle.document.get('tls', 'docs', 'd1');
    const id = await seen;
    console.log(JSON.stringify({ now: typeof now, created: created._id, over: got._source.over, notified: id }));
    clearTimeout(timer);
    kuzzle.disconnect();
  } catch (e) {
    console.error(stage + ': ' + e.message);
    process.exit(2);
  }
})();
`;

function runClient(ssl, env) {
  const file = path.join(__dirname, `tls-client-${process.pid}.js`);
  fs.writeFileSync(file, client);
  return new Promise((resolve) => {
    execFile(process.execPath, [file, String(node.port), String(ssl)],
      { cwd: __dirname, timeout: 30000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
        fs.rmSync(file, { force: true });
        resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
      });
  });
}

test('the SDK works over WSS with sslConnection: true', async () => {
  const r = await runClient(true, { NODE_EXTRA_CA_CERTS: path.join(certs, 'ca.pem') });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { now: 'number', created: 'd1', over: 'wss', notified: 'd1' });
});

test('the SDK cannot connect without trusting the CA, nor without TLS', async () => {
  const untrusted = await runClient(true, { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(untrusted.code, 2, untrusted.stdout + untrusted.stderr);
  assert.match(untrusted.stderr, /^connect: /, 'connected without trusting the CA');
  const plain = await runClient(false, { NODE_EXTRA_CA_CERTS: path.join(certs, 'ca.pem') });
  assert.equal(plain.code, 2, plain.stdout + plain.stderr);
  assert.match(plain.stderr, /^connect: /, 'connected in plain WebSocket to a TLS port');
});
