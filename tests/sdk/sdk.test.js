'use strict';
// Compatibility of bin/korum with the official Kuzzle JavaScript SDK.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { startNode, eventually, expectError } = require('./harness');

let node;
let kuzzle;

before(async () => {
  node = await startNode();
  kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
  await kuzzle.connect();
});

after(async () => {
  if (kuzzle) kuzzle.disconnect();
  if (node) {
    const code = await node.stop();
    assert.equal(code, 0, `korum exit code (logs: ${node.logs.join('')})`);
  }
});


// Collects notifications of one subscription.
function collector() {
  const seen = [];
  const cb = (n) => { seen.push(n); };
  return {
    cb,
    seen,
    wait: (pred, what) => eventually(() => seen.find(pred), { what }),
  };
}

describe('server', () => {
  test('now, info and healthCheck', async () => {
    const now = await kuzzle.server.now();
    assert.ok(Math.abs(now - Date.now()) < 60000);
    const info = await kuzzle.server.info();
    assert.ok(info.serverInfo.kuzzle.version);
    const health = await kuzzle.query({ controller: 'server', action: 'healthCheck' });
    assert.equal(health.result.status, 'green');
  });

  test('unknown controller and action are Kuzzle errors', async () => {
    await expectError(kuzzle.query({ controller: 'nope', action: 'x' }), 'api.process.controller_not_found', 404);
    await expectError(kuzzle.query({ controller: 'document', action: 'nope' }), 'api.process.action_not_found', 404);
  });
});

describe('index and collection', () => {
  test('create, exists, list, mapping, truncate, delete', async () => {
    await kuzzle.index.create('idx1');
    assert.equal(await kuzzle.index.exists('idx1'), true);
    assert.equal(await kuzzle.index.exists('nope'), false);
    assert.ok((await kuzzle.index.list()).includes('idx1'));
    await expectError(kuzzle.index.create('idx1'), 'services.storage.index_already_exists', 412);

    const mappings = { dynamic: 'true', properties: { name: { type: 'keyword' }, age: { type: 'integer' } } };
    await kuzzle.collection.create('idx1', 'people', { mappings });
    assert.equal(await kuzzle.collection.exists('idx1', 'people'), true);
    const got = await kuzzle.collection.getMapping('idx1', 'people');
    assert.deepEqual(got.properties.name, { type: 'keyword' });
    const list = await kuzzle.collection.list('idx1');
    assert.deepEqual(list.collections.map((c) => c.name), ['people']);

    await kuzzle.document.create('idx1', 'people', { name: 'a' }, 'a');
    await kuzzle.collection.truncate('idx1', 'people');
    assert.equal(await kuzzle.document.count('idx1', 'people'), 0);
    await kuzzle.collection.delete('idx1', 'people');
    assert.equal(await kuzzle.collection.exists('idx1', 'people'), false);
    await kuzzle.index.delete('idx1');
    assert.equal(await kuzzle.index.exists('idx1'), false);
  });
});

describe('documents', () => {
  before(async () => {
    await kuzzle.index.create('shop');
    await kuzzle.collection.create('shop', 'items', {});
  });

  test('create, get, exists, update, replace, delete', async () => {
    const created = await kuzzle.document.create('shop', 'items', { name: 'pen', price: 3 }, 'pen');
    assert.equal(created._id, 'pen');
    assert.equal(created._version, 1);
    assert.equal(created._source._kuzzle_info.author, '-1');
    assert.equal(typeof created._source._kuzzle_info.createdAt, 'number');

    const got = await kuzzle.document.get('shop', 'items', 'pen');
    assert.equal(got._source.name, 'pen');
    assert.equal(await kuzzle.document.exists('shop', 'items', 'pen'), true);
    assert.equal(await kuzzle.document.exists('shop', 'items', 'nope'), false);

    const auto = await kuzzle.document.create('shop', 'items', { name: 'auto' });
    assert.match(auto._id, /^[A-Za-z0-9_-]{20}$/);

    const updated = await kuzzle.document.update('shop', 'items', 'pen', { price: 4, tags: ['blue'] });
    assert.equal(updated._version, 2);
    const afterUpdate = await kuzzle.document.get('shop', 'items', 'pen');
    assert.equal(afterUpdate._source.price, 4);
    assert.equal(afterUpdate._source.name, 'pen');
    assert.equal(typeof afterUpdate._source._kuzzle_info.updatedAt, 'number');

    const replaced = await kuzzle.document.replace('shop', 'items', 'pen', { name: 'pencil' });
    assert.equal(replaced._source.name, 'pencil');
    assert.equal((await kuzzle.document.get('shop', 'items', 'pen'))._source.price, undefined);

    const cor = await kuzzle.document.createOrReplace('shop', 'items', 'cup', { name: 'cup' });
    assert.equal(cor.created, true);
    const up = await kuzzle.document.upsert('shop', 'items', 'cup', { price: 7 });
    assert.equal(up.created, false);
    assert.equal((await kuzzle.document.get('shop', 'items', 'cup'))._source.price, 7);

    await kuzzle.document.deleteFields('shop', 'items', 'cup', ['price']);
    assert.equal((await kuzzle.document.get('shop', 'items', 'cup'))._source.price, undefined);

    await kuzzle.document.delete('shop', 'items', 'pen');
    await expectError(kuzzle.document.get('shop', 'items', 'pen'), 'services.storage.not_found', 404);
    await expectError(kuzzle.document.create('shop', 'items', { a: 1 }, 'cup'), 'services.storage.document_already_exists', 400);
    await expectError(kuzzle.document.get('nope', 'items', 'x'), 'services.storage.unknown_index', 412);
    await expectError(kuzzle.document.replace('shop', 'items', 'ghost', { a: 1 }), 'services.storage.not_found', 404);
  });

  test('m* actions report successes and errors', async () => {
    const mc = await kuzzle.document.mCreate('shop', 'items', [
      { _id: 'm1', body: { n: 1 } }, { _id: 'm2', body: { n: 2 } }, { _id: 'm3', body: { n: 3 } }]);
    assert.equal(mc.successes.length, 3);
    assert.equal(mc.errors.length, 0);
    const dup = await kuzzle.document.mCreate('shop', 'items', [{ _id: 'm1', body: { n: 1 } }, { _id: 'm4', body: { n: 4 } }]);
    assert.deepEqual(dup.successes.map((d) => d._id), ['m4']);
    assert.equal(dup.errors.length, 1);
    assert.equal(dup.errors[0].status, 400);
    // Kuzzle's per-item status, result and reasons.
    assert.equal(dup.successes[0].status, 201);
    assert.equal(dup.successes[0].result, 'created');
    assert.equal(dup.errors[0].reason, 'document already exists');

    const mg = await kuzzle.document.mGet('shop', 'items', ['m1', 'm2', 'zz']);
    assert.deepEqual(mg.successes.map((d) => d._id), ['m1', 'm2']);
    assert.deepEqual(mg.errors, ['zz']);

    const mu = await kuzzle.document.mUpdate('shop', 'items', [{ _id: 'm1', body: { u: true } }, { _id: 'zz', body: { u: true } }]);
    assert.equal(mu.successes.length, 1);
    assert.equal(mu.errors.length, 1);
    assert.equal(mu.errors[0].status, 404);
    assert.equal(mu.errors[0].reason, 'document not found');
    // m* writes return the whole document unless source is false, as Kuzzle's.
    assert.equal(mu.successes[0]._source.n, 1);
    assert.equal(mu.successes[0]._source.u, true);
    assert.equal(mu.successes[0].status, 200);
    assert.equal(mu.successes[0].result, 'updated');
    const quiet = await kuzzle.document.mUpdate('shop', 'items', [{ _id: 'm1', body: { v: 1 } }], { source: false });
    assert.equal(quiet.successes[0]._source, undefined);
    await expectError(kuzzle.document.mCreate('shop', 'items', [{ _id: 'x', _source: { a: 1 } }]),
      'api.assert.unexpected_argument', 400);
    const noID = await kuzzle.document.mUpdate('shop', 'items', [{ body: { a: 1 } }, { _id: 'm1', body: 'not a body' }]);
    assert.deepEqual(noID.errors.map((e) => e.reason), ['document _id must be a string', 'document body must be an object']);

    const mr = await kuzzle.document.mReplace('shop', 'items', [{ _id: 'm2', body: { r: 1 } }]);
    assert.equal(mr.successes[0]._source.r, 1);
    const mcor = await kuzzle.document.mCreateOrReplace('shop', 'items', [{ _id: 'm5', body: { n: 5 } }]);
    assert.equal(mcor.successes[0]._id, 'm5');
    const mup = await kuzzle.document.mUpsert('shop', 'items', [{ _id: 'm6', changes: { n: 6 }, default: { d: 1 } }]);
    assert.equal(mup.successes[0]._id, 'm6');
    assert.equal((await kuzzle.document.get('shop', 'items', 'm6'))._source.d, 1);

    const md = await kuzzle.document.mDelete('shop', 'items', ['m1', 'zz']);
    assert.deepEqual(md.successes, ['m1']);
    assert.equal(md.errors.length, 1);

    // strict: any failed item fails the request with Kuzzle's
    // MultipleErrorsError, which carries the failed items; the others are
    // written all the same, as in Kuzzle.
    const strictErr = await expectError(kuzzle.document.mCreate('shop', 'items',
      [{ _id: 'm2', body: {} }, { _id: 'm7', body: { n: 7 } }], { strict: true }),
    'api.process.incomplete_multiple_request', 400);
    assert.equal(strictErr.count, 1);
    assert.equal(strictErr.errors[0].document._id, 'm2');
    assert.equal((await kuzzle.document.get('shop', 'items', 'm7'))._source.n, 7);
    await expectError(kuzzle.document.mGet('shop', 'items', ['m7', 'zz'], { strict: true }),
      'api.process.incomplete_multiple_request', 400);
    const mdErr = await expectError(kuzzle.document.mDelete('shop', 'items', ['m7', 'zz'], { strict: true }),
      'api.process.incomplete_multiple_request', 400);
    assert.deepEqual(mdErr.errors.map((e) => e._id), ['zz']);
    assert.equal(await kuzzle.document.exists('shop', 'items', 'm7'), false);
  });

  test('search, count, pagination, by-query actions', async () => {
    await kuzzle.collection.create('shop', 'fruits', {});
    const docs = [];
    for (let i = 0; i < 25; i++) docs.push({ _id: `f${i}`, body: { i, kind: i % 2 ? 'odd' : 'even', name: `fruit number ${i}` } });
    await kuzzle.document.mCreate('shop', 'fruits', docs);

    const res = await kuzzle.document.search('shop', 'fruits', {
      query: { bool: { must: [{ term: { kind: 'odd' } }, { range: { i: { gte: 10 } } }] } },
      sort: [{ i: 'asc' }],
    }, { size: 3 });
    assert.equal(res.total, 7);
    assert.deepEqual(res.hits.map((h) => h._id), ['f11', 'f13', 'f15']);
    const page2 = await res.next();
    assert.deepEqual(page2.hits.map((h) => h._id), ['f17', 'f19', 'f21']);

    const scrolled = await kuzzle.document.search('shop', 'fruits', { query: { match_all: {} }, sort: ['_id'] }, { size: 10, scroll: '10s' });
    assert.ok(scrolled.hits.length === 10);
    let seen = scrolled.hits.length;
    let page = scrolled;
    while ((page = await page.next())) seen += page.hits.length;
    assert.equal(seen, 25);
    // Kuzzle's `remaining`: what later pages of the scroll still hold.
    const first = await kuzzle.query({ controller: 'document', action: 'search', index: 'shop', collection: 'fruits',
      size: 10, scroll: '10s', body: { sort: ['_id'] } });
    assert.equal(first.result.remaining, 15);
    const second = await kuzzle.query({ controller: 'document', action: 'scroll', scrollId: first.result.scrollId });
    assert.equal(second.result.remaining, 5);

    assert.equal(await kuzzle.document.count('shop', 'fruits', { query: { match: { name: 'number' } } }), 25);
    await expectError(kuzzle.document.search('shop', 'fruits', { query: { nope: {} } }), 'services.storage.unknown_query_keyword', 400);

    const ubq = await kuzzle.document.updateByQuery('shop', 'fruits', { term: { kind: 'even' } }, { flag: 1 });
    assert.equal(ubq.successes.length, 13);
    const dbq = await kuzzle.document.deleteByQuery('shop', 'fruits', { query: { term: { flag: 1 } } });
    assert.equal(dbq.length, 13);
    assert.equal(await kuzzle.document.count('shop', 'fruits'), 12);
  });

  test('validate', async () => {
    const r = await kuzzle.document.validate('shop', 'items', { any: 'thing' });
    assert.equal(r.valid, true);
    await expectError(kuzzle.document.validate('shop', 'nope', { a: 1 }), 'services.storage.unknown_collection', 412);
  });
});

describe('realtime', () => {
  before(async () => {
    await kuzzle.index.create('rt');
    await kuzzle.collection.create('rt', 'c', {});
  });

  test('notifications for every write, with scopes in and out', async () => {
    const all = collector();
    const inOnly = collector();
    const outOnly = collector();
    const blue = { equals: { color: 'blue' } };
    const r1 = await kuzzle.realtime.subscribe('rt', 'c', blue, all.cb);
    const r2 = await kuzzle.realtime.subscribe('rt', 'c', blue, inOnly.cb, { scope: 'in' });
    const r3 = await kuzzle.realtime.subscribe('rt', 'c', blue, outOnly.cb, { scope: 'out' });
    assert.equal(r1, r2, 'equal filters share a room');
    assert.equal(r1, r3);

    await kuzzle.document.create('rt', 'c', { color: 'blue', n: 1 }, 'd1');
    const created = await all.wait((n) => n.action === 'create' && n.result._id === 'd1', 'create notification');
    assert.equal(created.type, 'document');
    assert.equal(created.scope, 'in');
    assert.equal(created.result._source.color, 'blue');
    assert.equal(created.index, 'rt');
    assert.equal(created.collection, 'c');
    assert.equal(created.controller, 'document');
    await inOnly.wait((n) => n.action === 'create', 'create on the in-only channel');

    await kuzzle.document.update('rt', 'c', 'd1', { n: 2 });
    const upd = await all.wait((n) => n.action === 'update', 'update notification');
    assert.deepEqual(upd.result._updatedFields, ['n']);

    await kuzzle.document.update('rt', 'c', 'd1', { color: 'red' });
    const left = await outOnly.wait((n) => n.scope === 'out', 'out notification');
    assert.equal(left.action, 'update');
    await all.wait((n) => n.scope === 'out', 'out notification on the all channel');

    await kuzzle.document.replace('rt', 'c', 'd1', { color: 'blue' });
    await all.wait((n) => n.action === 'replace' && n.scope === 'in', 'replace notification');

    await kuzzle.document.delete('rt', 'c', 'd1');
    const del = await all.wait((n) => n.action === 'delete', 'delete notification');
    assert.equal(del.scope, 'out');

    await kuzzle.document.mCreate('rt', 'c', [{ _id: 'm1', body: { color: 'blue' } }, { _id: 'm2', body: { color: 'green' } }]);
    await all.wait((n) => n.action === 'create' && n.result._id === 'm1', 'mCreate notification');
    await kuzzle.document.deleteByQuery('rt', 'c', { query: { match_all: {} } });
    await all.wait((n) => n.action === 'delete' && n.result._id === 'm1', 'deleteByQuery notification');

    await kuzzle.document.create('rt', 'c', { color: 'blue' }, 'quiet', { silent: true });
    await kuzzle.document.create('rt', 'c', { color: 'blue' }, 'loud');
    await all.wait((n) => n.result._id === 'loud', 'the notification after a silent write');
    assert.equal(all.seen.filter((n) => n.result._id === 'quiet').length, 0, 'silent writes notify nobody');

    assert.equal(inOnly.seen.filter((n) => n.scope === 'out').length, 0);
    assert.equal(outOnly.seen.filter((n) => n.scope === 'in').length, 0);

    // One unsubscribe leaves the room, whatever the number of channels.
    await kuzzle.realtime.unsubscribe(r1);
    await expectError(kuzzle.query({ controller: 'realtime', action: 'count', body: { roomId: r1 } }), 'core.realtime.room_not_found', 404);
  });

  test('several filters, publish, count, unsubscribe', async () => {
    const cheap = collector();
    const named = collector();
    const everything = collector();
    const rc = await kuzzle.realtime.subscribe('rt', 'c', { range: { price: { lt: 10 } } }, cheap.cb);
    const rn = await kuzzle.realtime.subscribe('rt', 'c', { bool: { must: [{ exists: 'name' }], must_not: [{ equals: { name: 'x' } }] } }, named.cb);
    const re = await kuzzle.realtime.subscribe('rt', 'c', {}, everything.cb);

    await kuzzle.realtime.publish('rt', 'c', { price: 5, name: 'x' });
    const pub = await cheap.wait((n) => n.action === 'publish', 'publish notification');
    assert.equal(pub.controller, 'realtime');
    assert.equal(pub.result._source.price, 5);
    await everything.wait((n) => n.action === 'publish', 'publish on {}');

    await kuzzle.document.create('rt', 'c', { price: 50, name: 'y' }, 'p1');
    await named.wait((n) => n.result._id === 'p1', 'named notification');
    await everything.wait((n) => n.result._id === 'p1', '{} notification');
    assert.equal(named.seen.filter((n) => n.action === 'publish').length, 0, 'name x is excluded');
    assert.equal(cheap.seen.filter((n) => n.result._id === 'p1').length, 0, 'price 50 is not cheap');

    assert.equal(await kuzzle.realtime.count(rc), 1);
    const { result: list } = await kuzzle.query({ controller: 'realtime', action: 'list' });
    assert.equal(list.rt.c[rc], 1);

    await kuzzle.realtime.unsubscribe(rc);
    await expectError(kuzzle.realtime.count('nope'), 'core.realtime.room_not_found', 404);
    await kuzzle.document.create('rt', 'c', { price: 1 }, 'p2');
    await everything.wait((n) => n.result._id === 'p2', 'p2 on {}');
    assert.equal(cheap.seen.filter((n) => n.result._id === 'p2').length, 0, 'unsubscribed rooms stay silent');
    await kuzzle.realtime.unsubscribe(rn);
    await kuzzle.realtime.unsubscribe(re);
  });

  test('user notifications', async () => {
    const watcher = collector();
    const filter = { equals: { topic: 'users' } };
    const room = await kuzzle.realtime.subscribe('rt', 'c', filter, watcher.cb, { users: 'all' });
    const other = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
    await other.connect();
    try {
      await other.realtime.subscribe('rt', 'c', filter, () => {});
      const joined = await watcher.wait((n) => n.type === 'user' && n.user === 'in' && n.result.count === 2, 'user in');
      assert.equal(joined.room.startsWith(room), true);
      other.disconnect();
      await watcher.wait((n) => n.type === 'user' && n.user === 'out', 'user out');
    } finally {
      other.disconnect();
      await kuzzle.realtime.unsubscribe(room);
    }
  });

  test('invalid filters and options are rejected', async () => {
    await expectError(kuzzle.realtime.subscribe('rt', 'c', { nope: {} }, () => {}), 'api.assert.koncorde_dsl_error', 400);
    await expectError(kuzzle.realtime.subscribe('rt', 'c', { equals: { a: 1, b: 2 } }, () => {}), 'api.assert.koncorde_dsl_error', 400);
    await expectError(kuzzle.realtime.subscribe('rt', 'c', {}, () => {}, { scope: 'sideways' }), 'core.realtime.invalid_scope', 400);
  });
});

describe('http', () => {
  test('the SDK works over HTTP too', async () => {
    const h = new Kuzzle(new Http('127.0.0.1', { port: node.port }));
    await h.connect();
    try {
      await h.index.create('web');
      await h.collection.create('web', 'c', {});
      await h.document.create('web', 'c', { a: 1 }, 'x');
      assert.equal((await h.document.get('web', 'c', 'x'))._source.a, 1);
      const s = await h.document.search('web', 'c', { query: { term: { a: 1 } } });
      assert.equal(s.total, 1);
    } finally {
      h.disconnect();
    }
  });

  // The Http protocol sends GET whenever an action has a GET route of the
  // same length as its POST one, with the body's keys in the query string:
  // count, mGet and mExists must read them there (count used to count
  // every document).
  test('GET routes read their body from the query string', async () => {
    const h = new Kuzzle(new Http('127.0.0.1', { port: node.port }));
    await h.connect();
    try {
      assert.equal(h.protocol.routes.document.count.verb, 'GET');
      await h.index.create('webq');
      await h.collection.create('webq', 'c', { mappings: { properties: { n: { type: 'integer' } } } });
      await h.document.mCreate('webq', 'c', [1, 2, 3, 4].map((n) => ({ _id: `d${n}`, body: { n } })), { refresh: 'wait_for' });
      assert.equal(await h.document.count('webq', 'c', { query: { range: { n: { gte: 3 } } } }), 2);
      assert.equal(await h.document.count('webq', 'c'), 4);
      const got = await h.document.mGet('webq', 'c', ['d1', 'd3', 'nope']);
      assert.deepEqual(got.successes.map((d) => d._id), ['d1', 'd3']);
      assert.deepEqual(got.errors, ['nope']);
      // The SDK has no mExists method: its generic query goes the same way.
      assert.equal(h.protocol.routes.document.mExists.verb, 'GET');
      const ex = await h.query({ controller: 'document', action: 'mExists', index: 'webq', collection: 'c', body: { ids: ['d2', 'nope'] } });
      assert.deepEqual(ex.result.successes, ['d2']);
      const s = await h.document.search('webq', 'c', { query: { range: { n: { lte: 1 } } } }, { verb: 'GET' });
      assert.deepEqual(s.hits.map((d) => d._id), ['d1']);
    } finally {
      h.disconnect();
    }
  });
});

describe('search semantics', () => {
  // lang=koncorde: Koncorde filters translated to the query language, as
  // Kuzzle's search, count, deleteByQuery and updateByQuery take them.
  test('Koncorde filters in search, count and by-query actions', async () => {
    await kuzzle.index.create('kon');
    await kuzzle.collection.create('kon', 'cars', { mappings: { properties: { make: { type: 'keyword' }, year: { type: 'integer' } } } });
    await kuzzle.document.mCreate('kon', 'cars', [
      { _id: 'c1', body: { make: 'ford', year: 1990 } },
      { _id: 'c2', body: { make: 'fiat', year: 2005 } },
      { _id: 'c3', body: { make: 'ford', year: 2010, electric: true } },
    ], { refresh: 'wait_for' });
    const koncorde = { lang: 'koncorde' };
    const fords = await kuzzle.document.search('kon', 'cars',
      { query: { and: [{ equals: { make: 'ford' } }, { range: { year: { gte: 2000 } } }] } }, koncorde);
    assert.deepEqual(fords.hits.map((h) => h._id), ['c3']);
    const notElectric = await kuzzle.document.search('kon', 'cars',
      { query: { not: { exists: 'electric' } }, sort: ['_id'] }, koncorde);
    assert.deepEqual(notElectric.hits.map((h) => h._id), ['c1', 'c2']);
    assert.equal(await kuzzle.document.count('kon', 'cars', { query: { in: { make: ['fiat', 'ford'] } } }, koncorde), 3);
    await expectError(kuzzle.document.search('kon', 'cars', { query: { bool: { must: [] } } }, koncorde),
      'api.assert.koncorde_restricted_keyword', 400);
    await expectError(kuzzle.document.search('kon', 'cars', { query: { equals: { make: 'ford' } } }, { lang: 'sql' }),
      'api.assert.invalid_argument', 400);
    const deleted = await kuzzle.document.deleteByQuery('kon', 'cars', { query: { equals: { make: 'fiat' } } }, koncorde);
    assert.deepEqual(deleted, ['c2']);
    assert.equal(await kuzzle.document.count('kon', 'cars'), 2);
  });

  // As in Kuzzle (Elasticsearch): _id is never analysed, and the unmapped
  // fields of a dynamic "false" collection are kept but not searchable.
  test('match on _id and unmapped fields of a non-dynamic collection', async () => {
    await kuzzle.index.create('sem');
    await kuzzle.collection.create('sem', 'ids', {});
    await kuzzle.document.create('sem', 'ids', { a: 1 }, 'search-my-document-id', { refresh: 'wait_for' });
    const byId = await kuzzle.document.search('sem', 'ids', { query: { match: { _id: 'fake-id' } } });
    assert.equal(byId.total, 0);
    const exact = await kuzzle.document.search('sem', 'ids', { query: { match: { _id: 'search-my-document-id' } } });
    assert.equal(exact.total, 1);

    await kuzzle.collection.create('sem', 'fixed', { mappings: { dynamic: 'false', properties: { name: { type: 'keyword' } } } });
    await kuzzle.document.create('sem', 'fixed', { name: 'x', age: 42 }, 'p1', { refresh: 'wait_for' });
    assert.equal((await kuzzle.document.get('sem', 'fixed', 'p1'))._source.age, 42);
    assert.equal(await kuzzle.document.count('sem', 'fixed', { query: { range: { age: { gte: 0 } } } }), 0);
    assert.equal(await kuzzle.document.count('sem', 'fixed', { query: { term: { name: 'x' } } }), 1);

    await kuzzle.collection.create('sem', 'strict', { mappings: { dynamic: 'strict', properties: { name: { type: 'keyword' } } } });
    await expectError(kuzzle.document.create('sem', 'strict', { name: 'x', age: 42 }), 'services.storage.strict_mapping_rejection', 400);
  });
});
