'use strict';
// The admin and bulk controllers through the official SDK, over WebSocket
// and HTTP.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { startNode, nodeForTests, eventually, expectError } = require('./harness');

let node;
nodeForTests([], (n) => { node = n; });

const admin = (kuzzle, action, args = {}) => kuzzle.query({ controller: 'admin', action, ...args }).then((r) => r.result);

for (const proto of ['websocket', 'http']) {
  describe(`admin and bulk over ${proto}`, () => {
    let kuzzle;
    const idx = `${proto}-app`;

    before(async () => {
      const p = proto === 'http' ? new Http('127.0.0.1', { port: node.port }) : new WebSocket('127.0.0.1', { port: node.port });
      kuzzle = new Kuzzle(p);
      await kuzzle.connect();
    });
    after(() => kuzzle.disconnect());

    test('loadMappings creates indexes and collections, then updates mappings', async () => {
      assert.deepEqual(await admin(kuzzle, 'loadMappings', { body: {
        [idx]: { people: { properties: { name: { type: 'keyword' }, age: { type: 'integer' } } } },
        [`${idx}-2`]: { things: { mappings: { dynamic: 'strict', properties: { label: { type: 'text' } } } } },
      } }), { acknowledge: true });
      const m = await kuzzle.collection.getMapping(idx, 'people');
      assert.equal(m.properties.age.type, 'integer');
      const m2 = await kuzzle.collection.getMapping(`${idx}-2`, 'things');
      assert.equal(m2.dynamic, 'strict');
      await admin(kuzzle, 'loadMappings', { body: { [idx]: { people: { properties: { city: { type: 'keyword' } } } } } });
      const m3 = await kuzzle.collection.getMapping(idx, 'people');
      assert.equal(m3.properties.city.type, 'keyword');
      assert.equal(m3.properties.age.type, 'integer');
      await expectError(admin(kuzzle, 'loadMappings', { body: { [idx]: 'nope' } }), 'api.assert.invalid_type', 400);
    });

    test('loadFixtures imports documents; an unknown collection fails', async () => {
      assert.deepEqual(await admin(kuzzle, 'loadFixtures', { body: { [idx]: { people: [
        { create: { _id: 'alice' } }, { name: 'alice', age: 30 },
        { index: { _id: 'bob' } }, { name: 'bob', age: 40 },
        { create: {} }, { name: 'anonymous', age: 1 },
      ] } } }), { acknowledge: true });
      assert.equal(await kuzzle.document.count(idx, 'people'), 3);
      const alice = await kuzzle.document.get(idx, 'people', 'alice');
      assert.equal(alice._source.age, 30);
      assert.equal(alice._source._kuzzle_info.author, '-1');
      await expectError(admin(kuzzle, 'loadFixtures', { body: { [idx]: { nope: [{ create: {} }, { a: 1 }] } } }),
        'services.storage.unknown_collection', 412);
      await expectError(admin(kuzzle, 'loadFixtures', { body: { 'no-such-index': { c: [] } } }),
        'services.storage.unknown_index', 412);
      await expectError(admin(kuzzle, 'loadFixtures', { body: { [idx]: { people: [{ create: { _id: 'alice' } }, { name: 'again' }] } } }),
        'services.storage.import_failed', 206);
    });

    test('bulk:import mixes actions and reports each', async () => {
      const res = await kuzzle.bulk.import(idx, 'people', [
        { index: { _id: 'carol' } }, { name: 'carol', age: 20 },
        { create: { _id: 'alice' } }, { name: 'duplicate' },
        { update: { _id: 'bob' } }, { doc: { age: 41 } },
        { update: { _id: 'dave' } }, { doc: { age: 50 }, upsert: { name: 'dave' } },
        { delete: { _id: 'carol' } },
        { update: { _id: 'nobody' } }, { doc: { age: 1 } },
      ]);
      assert.deepEqual(res.successes, [
        { index: { _id: 'carol', status: 201 } },
        { update: { _id: 'bob', status: 200 } },
        { update: { _id: 'dave', status: 201 } },
        { delete: { _id: 'carol', status: 200 } },
      ]);
      assert.equal(res.errors.length, 2);
      assert.equal(res.errors[0].create._id, 'alice');
      assert.equal(res.errors[0].create.status, 409);
      assert.equal(res.errors[0].create.error.type, 'version_conflict_engine_exception');
      assert.equal(res.errors[1].update.status, 404);
      assert.equal((await kuzzle.document.get(idx, 'people', 'bob'))._source.age, 41);
      assert.equal((await kuzzle.document.get(idx, 'people', 'dave'))._source.name, 'dave');
      await expectError(kuzzle.bulk.import(idx, 'people', [{ update: {} }, { doc: {} }]), 'api.assert.missing_argument', 400);
      await expectError(kuzzle.bulk.import(idx, 'people', [{ create: { _index: 'x' } }, {}]), 'api.assert.invalid_argument', 400);
    });

    test('bulk:write and mWrite store documents as given, _kuzzle_info included', async () => {
      const info = { author: 'someone', createdAt: 42, updatedAt: null, updater: null };
      const w = await kuzzle.bulk.write(idx, 'people', { name: 'eve', _kuzzle_info: info }, 'eve');
      assert.equal(w._id, 'eve');
      const eve = await kuzzle.document.get(idx, 'people', 'eve');
      assert.deepEqual(eve._source._kuzzle_info, info);
      const plain = await kuzzle.bulk.write(idx, 'people', { name: 'no metadata' });
      const got = await kuzzle.document.get(idx, 'people', plain._id);
      assert.equal(got._source._kuzzle_info, undefined);
      const mw = await kuzzle.bulk.mWrite(idx, 'people', [
        { _id: 'f1', body: { name: 'f1', _kuzzle_info: info } },
        { _id: 'eve', body: { name: 'eve2' } },
      ]);
      assert.equal(mw.successes.length, 2);
      assert.equal(mw.errors.length, 0);
      assert.equal(mw.successes[0]._source._kuzzle_info.createdAt, 42);
      assert.equal((await kuzzle.document.get(idx, 'people', 'eve'))._source.name, 'eve2');
    });

    test('bulk:updateByQuery and deleteByQuery count what they changed', async () => {
      await kuzzle.collection.create(idx, 'q', { mappings: { properties: { k: { type: 'keyword' } } } });
      await kuzzle.document.mCreate(idx, 'q', [1, 2, 3, 4].map((i) => ({ _id: `q${i}`, body: { k: i % 2 ? 'odd' : 'even', n: i } })));
      assert.equal(await kuzzle.bulk.updateByQuery(idx, 'q', { term: { k: 'odd' } }, { tagged: true }), 2);
      assert.equal((await kuzzle.document.get(idx, 'q', 'q1'))._source.tagged, true);
      assert.equal(await kuzzle.bulk.deleteByQuery(idx, 'q', { query: { term: { k: 'even' } } }), 2);
      assert.equal(await kuzzle.document.count(idx, 'q'), 2);
    });

    test('resetCache empties the memory storage; unknown databases are refused', async () => {
      await kuzzle.ms.set(`${proto}-cached`, 'v');
      assert.deepEqual(await admin(kuzzle, 'resetCache', { database: 'memoryStorage' }), { acknowledge: true });
      assert.equal(await kuzzle.ms.get(`${proto}-cached`), null);
      assert.deepEqual(await admin(kuzzle, 'resetCache', { database: 'internalCache' }), { acknowledge: true });
      await expectError(admin(kuzzle, 'resetCache', { database: 'nope' }), 'services.cache.database_not_found', 404);
      await expectError(admin(kuzzle, 'resetCache'), 'api.assert.missing_argument', 400);
    });

    test('refreshIndexCache answers', async () => {
      assert.equal(await admin(kuzzle, 'refreshIndexCache'), null);
    });
  });
}

describe('bulk notifications', () => {
  test('write and mWrite notify only when asked; import and by-query actions never', async () => {
    const kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
    await kuzzle.connect();
    try {
      await kuzzle.collection.create('notif', 'c');
      const seen = [];
      await kuzzle.realtime.subscribe('notif', 'c', {}, (n) => seen.push(n));
      await kuzzle.bulk.write('notif', 'c', { v: 'silent' }, 'silent');
      await kuzzle.bulk.import('notif', 'c', [{ create: { _id: 'imported' } }, { v: 1 }]);
      await kuzzle.bulk.updateByQuery('notif', 'c', { match_all: {} }, { touched: true });
      await kuzzle.bulk.write('notif', 'c', { v: 'loud' }, 'loud', { notify: true });
      await kuzzle.bulk.mWrite('notif', 'c', [{ _id: 'm1', body: { v: 'm' } }], { notify: true });
      await eventually(() => seen.some((n) => n.result._id === 'm1'), { what: 'the mWrite notification' });
      await kuzzle.bulk.deleteByQuery('notif', 'c', { query: { match_all: {} } });
      // A document event sent after the silent ones: everything before
      // it has been delivered in order.
      await kuzzle.document.create('notif', 'c', { v: 'marker' }, 'marker');
      await eventually(() => seen.some((n) => n.result._id === 'marker'), { what: 'the marker notification' });
      assert.deepEqual(seen.map((n) => `${n.action}:${n.result._id}`), ['create:loud', 'create:m1', 'create:marker']);
      assert.equal(seen[0].result._source.v, 'loud');
    } finally {
      kuzzle.disconnect();
    }
  });
});

describe('admin on a node of its own', () => {
  test('dump writes a bounded archive; resetDatabase deletes every index; shutdown stops the node', async () => {
    const own = await startNode();
    const kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port: own.port }));
    await kuzzle.connect();
    let stopped = false;
    try {
      await kuzzle.index.create('a');
      await kuzzle.collection.create('a', 'c');
      const dump = await admin(kuzzle, 'dump', { suffix: 'sdk' });
      assert.equal(dump.acknowledge, true);
      assert.match(dump.path, /-sdk\.tar\.gz$/);
      const files = execFileSync('tar', ['-tzf', dump.path]).toString().trim().split('\n').sort();
      assert.deepEqual(files, ['cluster.json', 'config.json', 'goroutines.txt', 'heap.pprof', 'info.json',
        'memory-storage.json', 'raft.json', 'realtime.json', 'storage.json']);
      const storage = JSON.parse(execFileSync('tar', ['-xzOf', dump.path, 'storage.json']).toString());
      assert.equal(storage.a.c.count, 0);
      await expectError(admin(kuzzle, 'dump', { suffix: '../escape' }), 'api.assert.invalid_argument', 400);

      await kuzzle.index.create('b');
      assert.deepEqual(await admin(kuzzle, 'resetDatabase'), { acknowledge: true });
      assert.deepEqual(await kuzzle.index.list(), []);

      assert.deepEqual(await admin(kuzzle, 'shutdown'), { acknowledge: true });
      kuzzle.disconnect();
      // The process exits by itself: nothing signals it.
      await eventually(() => own.exitCode() !== null, { what: 'the node to exit', timeout: 20000 });
      const code = await own.stop();
      stopped = true;
      assert.equal(code, 0, `exit code after admin:shutdown (logs: ${own.logs.join('')})`);
      assert.ok(!fs.existsSync(dump.path), 'the node data dir (and its dumps) is cleaned by the harness');
    } finally {
      kuzzle.disconnect();
      if (!stopped) await own.stop();
    }
  });
});
