'use strict';
// Starts a real bin/korum for the SDK tests and tears it down.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const BIN = process.env.KORUM_BIN || path.resolve(__dirname, '../../bin/korum');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Polls fn until it returns a truthy value or the deadline passes.
async function eventually(fn, { timeout = 10000, interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// readyOverHTTPS asks /_ready over HTTPS, trusting ca (a PEM string):
// fetch cannot be given a CA, and NODE_EXTRA_CA_CERTS is read only when a
// process starts.
function readyOverHTTPS(port, ca) {
  const https = require('node:https');
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/_ready', ca, timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// startNode starts korum with extraArgs. With opts.ca (the PEM of the CA
// that signed the certificate given in extraArgs with --tls-cert), the API
// is HTTPS: url is https:// and readiness is checked over TLS.
// KORUM_TEST_STORAGE=elasticsearch runs every node in elasticsearch mode
// against ELASTICSEARCH_URL (default the shared tool's 127.0.0.1:9200).
const ES_URL = process.env.ELASTICSEARCH_URL || 'http://127.0.0.1:9200';
const ES_MODE = process.env.KORUM_TEST_STORAGE === 'elasticsearch';

// Each node starts on empty storage, as an embedded node on a fresh data
// directory does: Kuzzle's public indexes (&index.collection) are deleted
// from the shared Elasticsearch first.
async function wipeElasticsearch() {
  const res = await fetch(`${ES_URL}/${encodeURIComponent('&*')}?expand_wildcards=all&ignore_unavailable=true`, { method: 'DELETE' });
  if (!res.ok && res.status !== 404) {
    throw new Error(`wiping Elasticsearch at ${ES_URL}: ${res.status} ${await res.text()}`);
  }
}

// startNode starts a node on free ports. A port found free can be taken
// by another process (an outgoing connection's ephemeral port) before the
// node binds it: that start is retried on new ports.
async function startNode(extraArgs = [], opts = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNodeOnce(extraArgs, opts);
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(e.message)) throw e;
    }
  }
}

async function startNodeOnce(extraArgs = [], opts = {}) {
  if (ES_MODE) {
    await wipeElasticsearch();
    extraArgs = ['--storage-engine', 'elasticsearch', '--elasticsearch-url', ES_URL, ...extraArgs];
  }
  const apiPort = await freePort();
  const clusterPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'korum-sdk-'));
  const logs = [];
  const proc = spawn(BIN, ['--data-dir', dataDir, '--api-addr', `127.0.0.1:${apiPort}`,
    '--cluster-addr', `127.0.0.1:${clusterPort}`, '--log-level', 'warn', ...extraArgs],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => logs.push(d.toString()));
  proc.stderr.on('data', (d) => logs.push(d.toString()));
  let exited = null;
  proc.on('exit', (code) => { exited = code; });
  await eventually(async () => {
    if (exited !== null) return true; // reported below, without waiting
    if (opts.ca) return readyOverHTTPS(apiPort, opts.ca);
    const res = await fetch(`http://127.0.0.1:${apiPort}/_ready`);
    return res.status === 200;
  }, { timeout: 20000, what: 'korum /_ready' });
  if (exited !== null) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`korum exited with ${exited}: ${logs.join('')}`);
  }
  return {
    port: apiPort,
    url: `${opts.ca ? 'https' : 'http'}://127.0.0.1:${apiPort}`,
    logs,
    // The exit code once the process has exited on its own, else null.
    exitCode: () => exited,
    async stop() {
      if (exited === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      return exited;
    },
  };
}

// expectError asserts that promise fails with Kuzzle error id (and status)
// and returns the error, for tests that look further into it.
async function expectError(promise, id, status) {
  const assert = require('node:assert/strict');
  let caught;
  await assert.rejects(promise, (err) => {
    assert.equal(err.id, id, `error id (${err.message})`);
    if (status) assert.equal(err.status, status);
    caught = err;
    return true;
  });
  return caught;
}

// nodeForTests starts a node (with args) before the calling file's tests
// and stops it after them, failing unless it exits 0; set receives it.
function nodeForTests(args, set) {
  const { before, after } = require('node:test');
  const assert = require('node:assert/strict');
  let node;
  before(async () => { node = await startNode(args); set(node); });
  after(async () => {
    if (node) {
      const code = await node.stop();
      assert.equal(code, 0, `korum exit code (logs: ${node.logs.join('')})`);
    }
  });
}

module.exports = { startNode, nodeForTests, eventually, freePort, expectError, ES_MODE };
