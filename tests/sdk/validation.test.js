'use strict';
// Collection validation specifications through the official SDK, over
// WebSocket and HTTP: stored, checked, searched, deleted, and enforced on
// document writes with Kuzzle's error ids.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { nodeForTests, eventually, expectError } = require('./harness');

let node;
nodeForTests([], (n) => { node = n; });

const spec = {
  strict: true,
  fields: {
    name: { type: 'string', mandatory: true, typeOptions: { length: { min: 2 } } },
    age: { type: 'integer', typeOptions: { range: { min: 0, max: 150 } } },
    role: { type: 'enum', defaultValue: 'user', typeOptions: { values: ['user', 'admin'] } },
    email: { type: 'email' },
    tags: { type: 'string', multivalued: { value: true, maxCount: 2 } },
    address: { type: 'object' },
    'address/city': { type: 'string', mandatory: true },
  },
  validators: [{ not: { equals: { name: 'forbidden' } } }],
};

for (const proto of ['websocket', 'http']) {
  describe(`validation specifications over ${proto}`, () => {
    let kuzzle;
    const idx = `${proto}-val`;

    before(async () => {
      const p = proto === 'http' ? new Http('127.0.0.1', { port: node.port }) : new WebSocket('127.0.0.1', { port: node.port });
      kuzzle = new Kuzzle(p);
      await kuzzle.connect();
      await kuzzle.index.create(idx);
      await kuzzle.collection.create(idx, 'people');
      await kuzzle.collection.create(idx, 'free');
    });
    after(() => kuzzle.disconnect());

    test('validateSpecifications reports every problem without storing anything', async () => {
      assert.deepEqual(await kuzzle.collection.validateSpecifications(idx, 'people', spec), { valid: true });
      const bad = await kuzzle.collection.validateSpecifications(idx, 'people', {
        fields: { a: { type: 'nope' }, b: { type: 'integer', typeOptions: { range: { min: 5, max: 1 } } } },
      });
      assert.equal(bad.valid, false);
      assert.equal(bad.description, 'Some errors with provided specifications.');
      assert.equal(bad.details.length, 2, JSON.stringify(bad.details));
      assert.match(bad.details[0], /In ".*\.people\.a": unknown type "nope"/);
      assert.match(bad.details[1], /invalid range \(min > max\)/);
      await expectError(kuzzle.collection.getSpecifications(idx, 'people'), 'validation.assert.not_found', 404);
    });

    test('updateSpecifications refuses a bad specification and stores a good one', async () => {
      await expectError(kuzzle.collection.updateSpecifications(idx, 'people', { fields: { a: { type: 'nope' } } }),
        'validation.assert.invalid_specifications', 400);
      await expectError(kuzzle.collection.updateSpecifications(idx, 'people', { validators: [{ nope: 1 }] }),
        'validation.assert.invalid_specifications', 400);
      // A fresh cluster raises its feature version (which specifications
      // need) shortly after it starts.
      const stored = await eventually(async () => {
        try {
          return await kuzzle.collection.updateSpecifications(idx, 'people', spec);
        } catch (e) {
          if (e.id === 'cluster.process.feature_unavailable') return undefined;
          throw e;
        }
      }, { what: 'specifications accepted' });
      assert.deepEqual(stored, spec);
      assert.deepEqual(await kuzzle.collection.getSpecifications(idx, 'people'),
        { index: idx, collection: 'people', validation: spec });
    });

    test('document writes are checked against the specification', async () => {
      const ok = await kuzzle.document.create(idx, 'people', { name: 'alice', age: 30, address: { city: 'Paris' } }, 'alice');
      assert.equal(ok._source.role, 'user', 'defaultValue applied');

      let e = await expectError(kuzzle.document.create(idx, 'people', { age: 3 }), 'validation.check.failed_field', 400);
      assert.equal(e.message, 'Validation failed. Field "name": The field is mandatory.');
      e = await expectError(kuzzle.document.create(idx, 'people', { name: 'bob', age: 200 }), 'validation.check.failed_field', 400);
      assert.match(e.message, /Field "age": Value 200 is greater than the allowed maximum \(150\)/);
      e = await expectError(kuzzle.document.create(idx, 'people', { name: 'bob', nick: 'b' }), 'validation.check.failed_document', 400);
      assert.match(e.message, /strict\. Cannot add unspecified sub-field "nick"/);
      e = await expectError(kuzzle.document.create(idx, 'people', { name: 'forbidden' }), 'validation.check.failed_document', 400);
      assert.match(e.message, /does not match validation filters/);
      await expectError(kuzzle.document.create(idx, 'people', { name: 'bob', address: {} }), 'validation.check.failed_field', 400);
      await expectError(kuzzle.document.create(idx, 'people', { name: 'bob', tags: ['a', 'b', 'c'] }), 'validation.check.failed_field', 400);
      await expectError(kuzzle.document.createOrReplace(idx, 'people', 'alice', { name: 'a' }), 'validation.check.failed_field', 400);
      await expectError(kuzzle.document.replace(idx, 'people', 'alice', { name: 'alice', email: 'nope' }), 'validation.check.failed_field', 400);

      // An update is checked merged into the stored document.
      await kuzzle.document.update(idx, 'people', 'alice', { age: 31 });
      await expectError(kuzzle.document.update(idx, 'people', 'alice', { age: -1 }), 'validation.check.failed_field', 400);
      await expectError(kuzzle.document.upsert(idx, 'people', 'alice', { name: 'x' }), 'validation.check.failed_field', 400);
      await expectError(kuzzle.document.upsert(idx, 'people', 'carol', { age: 2 }), 'validation.check.failed_field', 400);
      await kuzzle.document.upsert(idx, 'people', 'carol', { age: 2 }, { default: { name: 'carol' } });
      const carol = await kuzzle.document.get(idx, 'people', 'carol');
      assert.equal(carol._source.role, 'user');
      assert.equal((await kuzzle.document.get(idx, 'people', 'alice'))._source.age, 31);

      // m* actions refuse the invalid items alone.
      const m = await kuzzle.document.mCreate(idx, 'people', [
        { _id: 'dave', body: { name: 'dave' } },
        { _id: 'eve', body: { name: 'e' } },
      ]);
      assert.deepEqual(m.successes.map((s) => s._id), ['dave']);
      assert.equal(m.errors.length, 1);
      assert.equal(m.errors[0].document._id, 'eve');
      assert.equal(m.errors[0].status, 400);

      // A published message is checked like a document.
      await expectError(kuzzle.realtime.publish(idx, 'people', { age: 3 }), 'validation.check.failed_field', 400);
      await kuzzle.realtime.publish(idx, 'people', { name: 'gina' });

      // Another collection is not affected.
      await kuzzle.document.create(idx, 'free', { anything: true });
    });

    test('document:validate reports without writing', async () => {
      const good = await kuzzle.document.validate(idx, 'people', { name: 'frank' });
      assert.deepEqual(good, { errorMessages: {}, valid: true });
      const bad = await kuzzle.document.validate(idx, 'people', { name: 'f', tags: 'x' });
      assert.equal(bad.valid, false);
      assert.deepEqual(bad.errorMessages.fieldScope.children.name.messages,
        ['Invalid string length. Expected min: 2. Received: 1 ("f")']);
      assert.deepEqual(bad.errorMessages.fieldScope.children.tags.messages,
        ['The field must be multivalued, unary value provided.']);
      assert.equal(await kuzzle.document.exists(idx, 'people', 'frank'), false);
      // Kuzzle's (deprecated) realtime:validate is document:validate; it
      // has no HTTP route.
      if (proto !== 'http') {
        const rt = (body) => kuzzle.query({ controller: 'realtime', action: 'validate', index: idx, collection: 'people', body });
        assert.deepEqual((await rt({ name: 'frank' })).result, good);
        assert.deepEqual((await rt({ name: 'f', tags: 'x' })).result, bad);
      }
    });

    test('searchSpecifications and its scroll list stored specifications', async () => {
      await kuzzle.collection.updateSpecifications(idx, 'free', { fields: { n: { type: 'numeric' } } });
      const all = await kuzzle.collection.searchSpecifications({ query: { term: { index: idx } } }, { size: 1, scroll: '10s' });
      assert.equal(all.total, 2);
      assert.equal(all.hits.length, 1);
      assert.equal(all.hits[0]._id, `${idx}#free`);
      assert.equal(all.hits[0]._source.validation.fields.n.type, 'numeric');
      const next = await all.next();
      assert.ok(next, 'a second page');
      assert.equal(next.hits[0]._id, `${idx}#people`);
      const none = await kuzzle.collection.searchSpecifications({ query: { term: { collection: 'nothing-here' } } });
      assert.equal(none.total, 0);
    });

    test('deleteSpecifications lifts the rules', async () => {
      await kuzzle.collection.deleteSpecifications(idx, 'people');
      await expectError(kuzzle.collection.getSpecifications(idx, 'people'), 'validation.assert.not_found', 404);
      await kuzzle.document.create(idx, 'people', { whatever: 1 });
      // Deleting again is acknowledged too.
      await kuzzle.collection.deleteSpecifications(idx, 'people');
    });
  });
}

// admin:resetKuzzleData: security back to a fresh install's and every
// specification deleted; documents untouched.
test('admin:resetKuzzleData resets security and deletes specifications, not documents', async () => {
  const k = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
  await k.connect();
  try {
    await k.index.create('rkd');
    await k.collection.create('rkd', 'c', {});
    await k.collection.updateSpecifications('rkd', 'c', { strict: true, fields: { a: { type: 'integer' } } });
    await expectError(k.document.create('rkd', 'c', { b: 1 }), 'validation.check.failed_document');
    await k.document.create('rkd', 'c', { a: 1 }, 'kept', { refresh: 'wait_for' });
    await k.security.createUser('rkd-user', { content: { profileIds: ['default'] },
      credentials: { local: { username: 'rkd-user', password: 'pw' } } });
    const res = await k.query({ controller: 'admin', action: 'resetKuzzleData' });
    assert.deepEqual(res.result, { acknowledge: true });
    await expectError(k.collection.getSpecifications('rkd', 'c'), 'validation.assert.not_found');
    await k.document.create('rkd', 'c', { b: 1 });
    assert.equal((await k.document.get('rkd', 'c', 'kept'))._source.a, 1);
    await expectError(k.security.getUser('rkd-user'), 'security.user.not_found');
  } finally {
    k.disconnect();
  }
});
