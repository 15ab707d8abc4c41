'use strict';
// server:getConfig and capabilities, index:stats, collection:list with a
// type and collection:updateMapping, through the SDK over WebSocket and HTTP.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { nodeForTests, eventually, expectError, ES_MODE } = require('./harness');

let node;
nodeForTests(['--cluster-secret', 'do-not-show-me'], (n) => { node = n; });

for (const proto of ['websocket', 'http']) {
  describe(`more actions over ${proto}`, () => {
    let kuzzle;
    const idx = `${proto}-more`;

    before(async () => {
      const p = proto === 'http' ? new Http('127.0.0.1', { port: node.port }) : new WebSocket('127.0.0.1', { port: node.port });
      kuzzle = new Kuzzle(p);
      await kuzzle.connect();
    });
    after(() => kuzzle.disconnect());

    test('server:getConfig redacts secrets; capabilities gives the limits', async () => {
      const cfg = await kuzzle.server.getConfig();
      assert.equal(cfg.cluster.secret, '[redacted]');
      assert.ok(!JSON.stringify(cfg).includes('do-not-show-me'));
      assert.equal(cfg.limits.documentsWriteCount, 200);
      assert.ok(cfg.version);
      const caps = await kuzzle.query({ controller: 'server', action: 'capabilities' });
      assert.equal(caps.result.limits.documentsFetchCount, 10000);
      assert.equal(caps.result.version, cfg.version);
    });

    test('index:stats counts documents per collection', async () => {
      await kuzzle.collection.create(idx, 'a');
      await kuzzle.collection.create(idx, 'b');
      // Both items succeed: a generated id starting with "_" once failed
      // one of them as an invalid id (issue 13).
      const mc = await kuzzle.document.mCreate(idx, 'a', [{ body: { x: 1 } }, { body: { x: 2 } }]);
      assert.deepEqual(mc.errors, []);
      const st = await kuzzle.index.stats();
      const mine = st.indexes.find((i) => i.name === idx);
      assert.deepEqual(mine.collections.map((c) => [c.name, c.documentCount]), [['a', 2], ['b', 0]]);
      if (ES_MODE) {
        // Elasticsearch's store sizes, which it caches for up to 10 s.
        assert.ok(mine.collections.every((c) => c.size > 0), JSON.stringify(mine));
      } else {
        assert.ok(mine.collections[0].size > mine.collections[1].size, JSON.stringify(mine));
      }
      assert.equal(mine.size, mine.collections[0].size + mine.collections[1].size);
      assert.ok(st.size >= mine.size);
    });

    test('collection:list by type; updateMapping answers with the mapping', async () => {
      const rt = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
      await rt.connect();
      try {
        const room = await rt.realtime.subscribe(idx, 'live', {}, () => {});
        const all = await kuzzle.collection.list(idx);
        assert.deepEqual(all.collections, [{ name: 'a', type: 'stored' }, { name: 'b', type: 'stored' }, { name: 'live', type: 'realtime' }]);
        assert.deepEqual((await kuzzle.collection.list(idx, { type: 'realtime' })).collections, [{ name: 'live', type: 'realtime' }]);
        assert.deepEqual((await kuzzle.collection.list(idx, { type: 'stored', from: 1, size: 5 })).collections, [{ name: 'b', type: 'stored' }]);
        await assert.rejects(kuzzle.collection.list(idx, { type: 'nope' }), (e) => e.id === 'api.assert.invalid_argument');
        await rt.realtime.unsubscribe(room);
        await eventually(async () => (await kuzzle.collection.list(idx, { type: 'realtime' })).collections.length === 0,
          { what: 'the realtime collection to go with its last subscriber' });
      } finally {
        rt.disconnect();
      }
      const m = await kuzzle.collection.updateMapping(idx, 'a', { properties: { tag: { type: 'keyword' } } });
      assert.equal(m.properties.tag.type, 'keyword');
    });

    test('settings: index.blocks.write makes a collection read-only until lifted', async () => {
      await kuzzle.collection.create(idx, 'ro', { mappings: { properties: { n: { type: 'integer' } } } });
      await kuzzle.document.create(idx, 'ro', { n: 1 }, 'one');
      await kuzzle.collection.update(idx, 'ro', { settings: { index: { blocks: { write: true } } } });
      const st = await kuzzle.query({ controller: 'collection', action: 'getSettings', index: idx, collection: 'ro' });
      if (ES_MODE) {
        // Kuzzle's answer: every setting of the collection's Elasticsearch index.
        assert.equal(st.result.blocks.write, 'true');
        assert.ok(st.result.number_of_shards, JSON.stringify(st.result));
      } else {
        assert.deepEqual(st.result, { blocks: { write: 'true' } });
      }
      await assert.rejects(kuzzle.document.create(idx, 'ro', { n: 2 }), (e) => e.id === 'services.storage.write_blocked' && e.status === 403);
      await assert.rejects(kuzzle.document.delete(idx, 'ro', 'one'), (e) => e.id === 'services.storage.write_blocked');
      assert.equal((await kuzzle.document.get(idx, 'ro', 'one'))._source.n, 1);
      await kuzzle.collection.update(idx, 'ro', { settings: { index: { blocks: { write: false } } } });
      await kuzzle.document.create(idx, 'ro', { n: 2 }, 'two');
      assert.equal(await kuzzle.document.count(idx, 'ro'), 2);
    });
  });
}

// document:export streams a search as JSON lines or CSV, over HTTP only.
describe('document:export', () => {
  let kuzzle;
  before(async () => {
    kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
    await kuzzle.connect();
    await kuzzle.index.create('exp');
    await kuzzle.collection.create('exp', 'people', { mappings: { properties: {
      name: { type: 'keyword' }, age: { type: 'integer' }, address: { properties: { city: { type: 'keyword' } } } } } });
    await kuzzle.document.mCreate('exp', 'people', [
      { _id: 'p1', body: { name: 'ann', age: 42, address: { city: 'Paris' }, tags: ['a'] } },
      { _id: 'p2', body: { name: 'bob, jr', age: 7 } },
      { _id: 'p3', body: { name: 'cy', age: 30 } },
    ], { refresh: 'wait_for' });
  });
  after(() => kuzzle.disconnect());

  test('jsonl: a header line, then one line per document, across scroll pages', async () => {
    const res = await fetch(`http://127.0.0.1:${node.port}/exp/people/_export?size=2`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition'), /filename="exp-people.jsonl"/);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { collection: 'people', index: 'exp', type: 'collection' });
    assert.deepEqual(lines.slice(1).map((l) => l._id).sort(), ['p1', 'p2', 'p3']);
    assert.equal(lines.find((l) => l._id === 'p1').body.address.city, 'Paris');
  });

  test('csv: fields from the mapping, or chosen and renamed; a Koncorde query', async () => {
    const all = await (await fetch(`http://127.0.0.1:${node.port}/exp/people/_export?format=csv`)).text();
    const rows = all.trim().split('\n');
    // tags joined the mapping dynamically when p1 was written.
    assert.equal(rows[0], '_id,address.city,age,name,tags');
    assert.ok(rows.includes('p1,Paris,42,ann,[OBJECT]'));
    assert.ok(rows.includes('p2,,7,"bob, jr",'));
    const res = await fetch(`http://127.0.0.1:${node.port}/exp/people/_export?format=csv&lang=koncorde`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: { range: { age: { gte: 10 } } }, sort: ['_id'], fields: ['name', 'tags'],
        fieldsName: { _id: 'id', name: 'who' } }),
    });
    assert.equal(res.headers.get('content-type'), 'text/csv');
    assert.equal(await res.text(), 'id,who,tags\np1,ann,[OBJECT]\np3,cy,\n');
  });

  test('refused over WebSocket; a bad query is an error response, not a file', async () => {
    await expectError(kuzzle.query({ controller: 'document', action: 'export', index: 'exp', collection: 'people' }),
      'api.assert.unsupported_protocol');
    const bad = await fetch(`http://127.0.0.1:${node.port}/exp/nope/_export`);
    assert.equal(bad.status, 412);
    assert.equal((await bad.json()).error.id, 'services.storage.unknown_collection');
  });
});

// HTTP bodies as Kuzzle takes them: gzip/deflate, forms; compressed answers.
describe('HTTP encodings', () => {
  const zlib = require('node:zlib');
  const url = (p) => `http://127.0.0.1:${node.port}${p}`;

  test('gzip request bodies, form bodies and compressed responses', async () => {
    await fetch(url('/enc/_create'), { method: 'POST' });
    await fetch(url('/enc/c'), { method: 'PUT' });
    let res = await fetch(url('/enc/c/g1/_create'), {
      method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: zlib.gzipSync(JSON.stringify({ via: 'gzip' })),
    });
    assert.equal(res.status, 200, await res.clone().text());
    res = await fetch(url('/enc/c/f1/_create'), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'via=form&n=1',
    });
    assert.equal((await res.json()).result._source.via, 'form');
    // A zip bomb is refused like any oversized request.
    res = await fetch(url('/enc/c/b1/_create'), {
      method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: zlib.gzipSync(Buffer.alloc(8 << 20, 0x20)),
    });
    assert.equal(res.status, 413);
    // fetch asks for gzip and inflates transparently: the header tells.
    res = await fetch(url('/_openapi'));
    assert.equal(res.headers.get('content-encoding'), 'gzip');
    assert.equal((await res.json()).result.openapi, '3.0.1');
  });
});
