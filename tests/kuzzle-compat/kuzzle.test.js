'use strict';
// A real Kuzzle 2 (the kuzzle npm package, run as the smallest Backend
// app) and bin/korum in elasticsearch mode share one Elasticsearch: what
// Kuzzle writes, Korum lists and reads with the same results; what Korum
// writes, Kuzzle reads back. Needs `npm ci` here (Kuzzle's native modules
// are built from source), redis-server, and an Elasticsearch 7
// (ELASTICSEARCH_URL, default http://127.0.0.1:9200). Skipped, saying
// why, when any of them is missing.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort, eventually } = require('../sdk/harness');

const ES_URL = process.env.ELASTICSEARCH_URL || 'http://127.0.0.1:9200';
const BIN = process.env.KORUM_BIN || path.resolve(__dirname, '../../bin/korum');
// A Kuzzle index of this run alone: the Elasticsearch may be shared.
const INDEX = `kc${process.pid}x${Date.now().toString(36)}`;

let skip = '';
let sdk;
try {
  require.resolve('kuzzle');
  sdk = require('kuzzle-sdk');
} catch (e) {
  skip = `Kuzzle is not installed (npm ci in tests/kuzzle-compat): ${e.message.split('\n')[0]}`;
}
if (!skip && spawnSync('redis-server', ['--version']).status !== 0) {
  skip = 'no redis-server on PATH';
}

const procs = [];
function run(cmd, args, env) {
  const logs = [];
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d) => logs.push(d.toString()));
  p.stderr.on('data', (d) => logs.push(d.toString()));
  p.exited = null;
  p.on('exit', (code) => { p.exited = code; });
  p.logs = logs;
  procs.push(p);
  return p;
}

async function stop(p) {
  if (p.exited === null) {
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 30000);
    await done;
    clearTimeout(t);
  }
}

// unavailable skips a test, saying why, when Kuzzle cannot run here; CI
// sets KORUM_KUZZLE_REQUIRED=1, where that is a failure instead.
function unavailable(t) {
  if (!skip) return false;
  if (process.env.KORUM_KUZZLE_REQUIRED === '1') throw new Error(`KORUM_KUZZLE_REQUIRED: ${skip}`);
  t.skip(skip);
  return true;
}

let kuzzle; // SDK client of the real Kuzzle
let korum; // SDK client of bin/korum
let dataDir;

before(async () => {
  if (skip) return;
  try {
    const res = await fetch(ES_URL);
    const info = await res.json();
    if (!String(info.version && info.version.number).startsWith('7.') || info.version.distribution) {
      skip = `Kuzzle 2 needs Elasticsearch 7; ${ES_URL} is ${info.version && info.version.distribution || 'Elasticsearch'} ${info.version && info.version.number}`;
      return;
    }
  } catch (e) {
    skip = `no Elasticsearch at ${ES_URL}: ${e.message}`;
    return;
  }

  const redisPort = await freePort();
  const redis = run('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await eventually(async () => redis.logs.join('').includes('Ready to accept connections'), { timeout: 10000, what: 'redis-server' });

  const kuzzlePort = await freePort();
  const k = run(process.execPath, [path.join(__dirname, 'app.js')], {
    kuzzle_server__port: String(kuzzlePort),
    kuzzle_cluster__enabled: 'false',
    kuzzle_services__storageEngine__client__node: ES_URL,
    kuzzle_services__internalCache__node__host: '127.0.0.1',
    kuzzle_services__internalCache__node__port: String(redisPort),
    kuzzle_services__memoryStorage__node__host: '127.0.0.1',
    kuzzle_services__memoryStorage__node__port: String(redisPort),
    NODE_ENV: 'development',
  });
  await eventually(async () => {
    if (k.exited !== null) throw new Error(`Kuzzle exited with ${k.exited}: ${k.logs.join('').slice(-3000)}`);
    const res = await fetch(`http://127.0.0.1:${kuzzlePort}/_healthcheck`);
    return res.status === 200;
  }, { timeout: 120000, interval: 200, what: 'Kuzzle /_healthcheck' }).catch((e) => {
    if (k.exited !== null) throw new Error(`Kuzzle exited with ${k.exited}: ${k.logs.join('').slice(-3000)}`);
    throw e;
  });
  kuzzle = new sdk.Kuzzle(new sdk.Http('127.0.0.1', { port: kuzzlePort }));
  await kuzzle.connect();

  const apiPort = await freePort();
  const clusterPort = await freePort();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'korum-kuzzle-compat-'));
  const n = run(BIN, ['--data-dir', dataDir, '--api-addr', `127.0.0.1:${apiPort}`, '--cluster-addr', `127.0.0.1:${clusterPort}`,
    '--log-level', 'warn', '--storage-engine', 'elasticsearch', '--elasticsearch-url', ES_URL]);
  await eventually(async () => {
    if (n.exited !== null) throw new Error(`korum exited with ${n.exited}: ${n.logs.join('')}`);
    const res = await fetch(`http://127.0.0.1:${apiPort}/_ready`);
    return res.status === 200;
  }, { timeout: 30000, what: 'korum /_ready' });
  korum = new sdk.Kuzzle(new sdk.Http('127.0.0.1', { port: apiPort }));
  await korum.connect();
});

after(async () => {
  if (kuzzle) {
    await kuzzle.index.delete(INDEX).catch(() => {});
    kuzzle.disconnect();
  }
  if (korum) korum.disconnect();
  for (const p of procs.reverse()) await stop(p);
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

const MAPPING = {
  dynamic: 'strict',
  _meta: { owner: 'kuzzle' },
  properties: {
    name: { type: 'keyword' },
    n: { type: 'integer' },
    text: { type: 'text' },
  },
};
const DOCS = [
  { _id: 'a', body: { name: 'alpha', n: 1, text: 'the quick brown fox' } },
  { _id: 'b', body: { name: 'beta', n: 2, text: 'a lazy dog' } },
  { _id: 'c', body: { name: 'gamma', n: 3, text: 'quick quick silver' } },
];
const QUERY = { query: { match: { text: 'quick' } }, sort: [{ n: 'asc' }] };

// Sorted hits as {_id, _source} for comparing two answers.
function hits(res) {
  return res.hits.map((h) => ({ _id: h._id, _source: h._source }));
}

test('Kuzzle writes, Korum lists and reads the same', async (t) => {
  if (unavailable(t)) return;
  await kuzzle.index.create(INDEX);
  await kuzzle.collection.create(INDEX, 'items', { mappings: MAPPING });
  await kuzzle.document.mCreate(INDEX, 'items', DOCS, { refresh: 'wait_for' });

  assert.ok((await korum.index.list()).includes(INDEX), 'Korum lists the index Kuzzle created');
  const colls = await korum.collection.list(INDEX);
  assert.deepEqual(colls.collections.map((c) => c.name), ['items']);
  assert.deepEqual(await korum.collection.getMapping(INDEX, 'items'), await kuzzle.collection.getMapping(INDEX, 'items'));

  for (const d of DOCS) {
    const fromKorum = await korum.document.get(INDEX, 'items', d._id);
    const fromKuzzle = await kuzzle.document.get(INDEX, 'items', d._id);
    assert.deepEqual(fromKorum._source, fromKuzzle._source, `document ${d._id}`);
    assert.equal(fromKorum._source.name, d.body.name);
  }
  const [sKorum, sKuzzle] = [await korum.document.search(INDEX, 'items', QUERY), await kuzzle.document.search(INDEX, 'items', QUERY)];
  assert.equal(sKorum.total, 2);
  assert.equal(sKorum.total, sKuzzle.total);
  assert.deepEqual(hits(sKorum), hits(sKuzzle));
  assert.equal(await korum.document.count(INDEX, 'items', { query: QUERY.query }), 2);
  assert.equal(await korum.document.count(INDEX, 'items', {}), await kuzzle.document.count(INDEX, 'items', {}));
  // The strict mapping Kuzzle set is Elasticsearch's, enforced for Korum.
  await assert.rejects(korum.document.create(INDEX, 'items', { nope: 1 }), (e) => e.id === 'services.storage.strict_mapping_rejection');
});

test('Korum writes, Kuzzle reads the same', async (t) => {
  if (unavailable(t)) return;
  await korum.document.create(INDEX, 'items', { name: 'delta', n: 4, text: 'quick korum' }, 'd', { refresh: 'wait_for' });
  await korum.document.update(INDEX, 'items', 'a', { n: 10 }, { refresh: 'wait_for' });
  await korum.document.delete(INDEX, 'items', 'b', { refresh: 'wait_for' });

  const d = await kuzzle.document.get(INDEX, 'items', 'd');
  assert.equal(d._source.name, 'delta');
  assert.deepEqual(d._source, (await korum.document.get(INDEX, 'items', 'd'))._source);
  assert.equal(typeof d._source._kuzzle_info.createdAt, 'number');
  const a = await kuzzle.document.get(INDEX, 'items', 'a');
  assert.equal(a._source.n, 10);
  assert.equal(typeof a._source._kuzzle_info.updatedAt, 'number');
  assert.equal(await kuzzle.document.exists(INDEX, 'items', 'b'), false);

  const [sKorum, sKuzzle] = [await korum.document.search(INDEX, 'items', QUERY), await kuzzle.document.search(INDEX, 'items', QUERY)];
  assert.equal(sKuzzle.total, 3);
  assert.deepEqual(hits(sKuzzle), hits(sKorum));
  assert.equal(await kuzzle.document.count(INDEX, 'items', {}), 3);
  // Kuzzle goes on writing to what Korum wrote.
  await kuzzle.document.update(INDEX, 'items', 'd', { n: 40 }, { refresh: 'wait_for' });
  assert.equal((await korum.document.get(INDEX, 'items', 'd'))._source.n, 40);
});

test('a collection Korum creates is Kuzzle\'s after admin:refreshIndexCache', async (t) => {
  if (unavailable(t)) return;
  await korum.collection.create(INDEX, 'fromkorum', { mappings: { dynamic: 'false', properties: { x: { type: 'keyword' } } } });
  await korum.document.create(INDEX, 'fromkorum', { x: 'y' }, 'z', { refresh: 'wait_for' });
  // Kuzzle keeps the list of indexes and collections in memory, loaded at
  // start: one created by another node (or by Korum) is unknown to it...
  await assert.rejects(kuzzle.document.get(INDEX, 'fromkorum', 'z'), (e) => e.id === 'services.storage.unknown_collection');
  // ...until its cache is reloaded from Elasticsearch.
  await kuzzle.query({ controller: 'admin', action: 'refreshIndexCache' });
  assert.deepEqual((await kuzzle.collection.list(INDEX)).collections.map((c) => c.name).sort(), ['fromkorum', 'items']);
  assert.equal((await kuzzle.document.get(INDEX, 'fromkorum', 'z'))._source.x, 'y');
  assert.deepEqual(await kuzzle.collection.getMapping(INDEX, 'fromkorum'), await korum.collection.getMapping(INDEX, 'fromkorum'));
});

test('static settings: Kuzzle and Korum both close, update and reopen the index', async (t) => {
  if (unavailable(t)) return;
  const analysis = { analysis: { analyzer: { case_sensitive: { type: 'custom', tokenizer: 'standard' } } } };
  const mappings = { properties: { code: { type: 'text', analyzer: 'case_sensitive' } } };
  const getSettings = (sdkc, c) => sdkc.query({ controller: 'collection', action: 'getSettings', index: INDEX, collection: c }).then((r) => r.result);
  await kuzzle.collection.create(INDEX, 'bykuzzle', {});
  await kuzzle.collection.update(INDEX, 'bykuzzle', { settings: analysis, mappings });
  await korum.collection.create(INDEX, 'bykorum', {});
  await korum.collection.update(INDEX, 'bykorum', { settings: analysis, mappings });
  await kuzzle.query({ controller: 'admin', action: 'refreshIndexCache' });
  for (const c of ['bykuzzle', 'bykorum']) {
    assert.deepEqual((await getSettings(kuzzle, c)).analysis, analysis.analysis, `${c} via Kuzzle`);
    assert.deepEqual((await getSettings(korum, c)).analysis, analysis.analysis, `${c} via Korum`);
    await korum.document.create(INDEX, c, { code: 'AB Cd' }, 'x', { refresh: 'wait_for' });
    for (const [q, want] of [['AB', 1], ['ab', 0]]) {
      const query = { query: { match: { code: q } } };
      assert.equal(await kuzzle.document.count(INDEX, c, query), want, `${c}: Kuzzle counts ${q}`);
      assert.equal(await korum.document.count(INDEX, c, query), want, `${c}: Korum counts ${q}`);
    }
  }
});
