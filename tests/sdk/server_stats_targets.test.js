'use strict';
// Through the official SDK over WebSocket and HTTP: document:search across
// indexes and collections (targets), server:getStats / getLastStats /
// getAllStats, and server:healthCheck with GET /_healthcheck.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { nodeForTests, eventually, expectError } = require('./harness');

let node;
// Frames every second, so that the statistics tests see some taken.
nodeForTests(['--stats-interval', '1'], (n) => { node = n; });

const ws = () => new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
const http = () => new Kuzzle(new Http('127.0.0.1', { port: node.port }));

// POST /_query: a whole request as JSON, the only HTTP way to send targets
// (Kuzzle has no HTTP route for a multi-target search either).
async function query(request, jwt) {
  const headers = { 'content-type': 'application/json' };
  if (jwt) headers.authorization = `Bearer ${jwt}`;
  const res = await fetch(`${node.url}/_query`, { method: 'POST', headers, body: JSON.stringify(request) });
  return { status: res.status, body: await res.json() };
}

const targets = [{ index: 'ta', collections: ['c1', 'c2'] }, { index: 'tb', collections: ['c1'] }];
const where = (hits) => hits.map((h) => `${h.index}/${h.collection}/${h._id}`).sort();

describe('document:search with targets', () => {
  let k;
  before(async () => {
    k = ws();
    await k.connect();
    for (const [i, c] of [['ta', 'c1'], ['ta', 'c2'], ['tb', 'c1'], ['tb', 'other']]) {
      await k.collection.create(i, c, { properties: { n: { type: 'integer' } } });
      // The same ids everywhere: hits are told apart by index and collection.
      await k.document.mCreate(i, c, [0, 1, 2].map((n) => ({ _id: `d${n}`, body: { n, from: `${i}/${c}` } })),
        { refresh: 'wait_for' });
    }
  });
  after(() => k.disconnect());

  test('over WebSocket: hits of every target, each naming its index and collection', async () => {
    const res = await k.query({ controller: 'document', action: 'search', targets,
      body: { query: { range: { n: { gte: 2 } } } } });
    assert.equal(res.result.total, 3);
    assert.deepEqual(where(res.result.hits), ['ta/c1/d2', 'ta/c2/d2', 'tb/c1/d2']);
    for (const h of res.result.hits) assert.equal(h._source.from, `${h.index}/${h.collection}`);
    // A single-collection search names them too (Kuzzle 2.17).
    const one = await k.document.search('tb', 'other', {}, { size: 1 });
    assert.equal(one.hits[0].index, 'tb');
    assert.equal(one.hits[0].collection, 'other');
  });

  test('over HTTP (POST /_query), sorted and paged', async () => {
    const { status, body } = await query({ controller: 'document', action: 'search', targets,
      body: { sort: [{ n: 'desc' }] }, size: 4 });
    assert.equal(status, 200, JSON.stringify(body.error));
    assert.equal(body.result.total, 9);
    assert.equal(body.result.hits.length, 4);
    assert.deepEqual(body.result.hits.slice(0, 3).map((h) => h._source.n), [2, 2, 2]);
  });

  test('a scroll goes through every target', async () => {
    let res = (await k.query({ controller: 'document', action: 'search', targets, body: {}, size: 4, scroll: '10s' })).result;
    const seen = where(res.hits);
    while (res.hits.length > 0) {
      res = (await k.query({ controller: 'document', action: 'scroll', scrollId: res.scrollId })).result;
      seen.push(...where(res.hits));
    }
    assert.equal(seen.length, 9);
    assert.equal(new Set(seen).size, 9, 'no hit twice');
  });

  test("Kuzzle's errors for malformed targets", async () => {
    const search = (args) => k.query({ controller: 'document', action: 'search', ...args });
    await expectError(search({ targets: [{ index: 'ta', collections: ['c*'] }] }), 'services.storage.invalid_target_format', 400);
    await expectError(search({ targets: [{ index: '_all', collections: ['c1'] }] }), 'services.storage.invalid_target_format', 400);
    await expectError(search({ targets: [{ index: 'ta' }] }), 'api.assert.missing_argument', 400);
    await expectError(search({ index: 'ta', targets }), 'api.assert.mutually_exclusive', 400);
    await expectError(search({ index: 'ta', collection: 'c1,c2' }), 'services.storage.invalid_multi_index_collection_usage', 400);
    await expectError(search({ targets: [{ index: 'ta', collections: ['nope'] }] }), 'services.storage.unknown_collection', 412);
  });
});

describe('statistics', () => {
  for (const proto of ['websocket', 'http']) {
    test(`getStats, getLastStats and getAllStats over ${proto}`, async () => {
      const k = proto === 'http' ? http() : ws();
      await k.connect();
      try {
        await k.server.now();
        const frames = async () => (await k.server.getAllStats()).hits;
        // Frames come every second; wait for two after this test started.
        const t0 = Date.now();
        await eventually(async () => (await frames()).filter((f) => f.timestamp > t0).length >= 2,
          { what: 'two statistics frames' });
        const all = await k.server.getAllStats();
        assert.equal(all.total, all.hits.length);
        for (const f of all.hits) {
          for (const key of ['completedRequests', 'connections', 'failedRequests', 'ongoingRequests']) {
            assert.equal(typeof f[key], 'object', `${key} in ${JSON.stringify(f)}`);
          }
          assert.equal(typeof f.timestamp, 'number');
        }
        // This connection's requests are counted under its protocol.
        const counted = all.hits.reduce((n, f) => n + (f.completedRequests[proto] || 0), 0);
        assert.ok(counted >= 1, JSON.stringify(all.hits));
        if (proto === 'websocket') {
          assert.ok(all.hits[all.hits.length - 1].connections.websocket >= 1, JSON.stringify(all.hits));
        }
        const last = await k.server.getLastStats();
        assert.ok(last.timestamp >= all.hits[all.hits.length - 1].timestamp, JSON.stringify(last));
        // A range: only the frames inside it.
        const from = all.hits[all.hits.length - 2].timestamp;
        const some = await k.server.getStats(from, from);
        assert.equal(some.total, 1);
        assert.equal(some.hits[0].timestamp, from);
        assert.equal((await k.server.getStats(Date.now() + 3600000)).total, 0);
        await expectError(k.server.getStats('not a time'), 'api.assert.invalid_argument', 400);
      } finally {
        k.disconnect();
      }
    });
  }
});

describe('health check', () => {
  test('server:healthCheck over both protocols and GET /_healthcheck', async () => {
    for (const k of [ws(), http()]) {
      await k.connect();
      const res = await k.query({ controller: 'server', action: 'healthCheck' });
      k.disconnect();
      assert.deepEqual(res.result, { status: 'green',
        services: { internalCache: 'green', memoryStorage: 'green', storageEngine: 'green' } });
    }
    const res = await fetch(`${node.url}/_healthcheck?services=storageEngine`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.error, null);
    assert.deepEqual(body.result, { status: 'green', services: { storageEngine: 'green' } });
  });
});

describe('targets and rights', () => {
  test('the user needs the right on every collection of every target', async () => {
    const anon = ws();
    await anon.connect();
    await anon.security.createFirstAdmin('admin', {
      credentials: { local: { username: 'admin', password: 'adminpw' } } }, { reset: true });
    const admin = ws();
    await admin.connect();
    await admin.auth.login('local', { username: 'admin', password: 'adminpw' });
    await admin.security.createRole('searcher', { controllers: {
      document: { actions: { search: true, scroll: true } }, auth: { actions: { login: true } } } });
    await admin.security.createProfile('ta-only', { policies: [{ roleId: 'searcher', restrictedTo: [{ index: 'ta' }] }] });
    await admin.security.createUser('bob', { content: { profileIds: ['ta-only'] },
      credentials: { local: { username: 'bob', password: 'bobpw' } } });
    const bob = ws();
    await bob.connect();
    const jwt = await bob.auth.login('local', { username: 'bob', password: 'bobpw' });
    const res = await bob.query({ controller: 'document', action: 'search',
      targets: [{ index: 'ta', collections: ['c1', 'c2'] }], body: {} });
    assert.equal(res.result.total, 6);
    await expectError(bob.query({ controller: 'document', action: 'search', targets, body: {} }),
      'security.rights.forbidden', 403);
    const over = await query({ controller: 'document', action: 'search', targets, body: {} }, jwt);
    assert.equal(over.status, 403);
    assert.equal(over.body.error.id, 'security.rights.forbidden');
    for (const k of [anon, admin, bob]) k.disconnect();
  });
});
