'use strict';
// Kuzzle's error ids for the mistakes only a real node can make: the
// storage checks (lib/service/storage/elasticsearch.ts and the index
// cache: an unknown index before an unknown collection, the reserved
// _kuzzle_keep collection) and the order of the argument checks as a
// client sees it (api/kuzzle_errors_test.go has the full table).
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { nodeForTests, expectError } = require('./harness');

let node;
nodeForTests([], (n) => { node = n; });

for (const proto of ['websocket', 'http']) {
  describe(`Kuzzle's error ids over ${proto}`, () => {
    let kuzzle;
    const idx = `${proto}-errors`;

    before(async () => {
      const p = proto === 'http' ? new Http('127.0.0.1', { port: node.port }) : new WebSocket('127.0.0.1', { port: node.port });
      kuzzle = new Kuzzle(p);
      await kuzzle.connect();
      await kuzzle.collection.create(idx, 'c');
    });
    after(() => kuzzle.disconnect());

    test('collection:create on _kuzzle_keep is collection_reserved, after the index name', async () => {
      const err = await expectError(kuzzle.collection.create(idx, '_kuzzle_keep'), 'services.storage.collection_reserved', 400);
      assert.equal(err.message, 'Invalid collection name. "_kuzzle_keep" is reserved for internal usage.');
      await expectError(kuzzle.collection.create('Upper', '_kuzzle_keep'), 'services.storage.invalid_index_name', 400);
      await expectError(kuzzle.collection.create(idx, 'Upper'), 'services.storage.invalid_collection_name', 400);
      assert.equal(await kuzzle.collection.exists(idx, '_kuzzle_keep'), false);
    });

    test('an unknown index is reported before an unknown collection, both before the document', async () => {
      await expectError(kuzzle.document.get(`${idx}-none`, 'none', 'd'), 'services.storage.unknown_index', 412);
      await expectError(kuzzle.document.create(`${idx}-none`, 'c', { a: 1 }), 'services.storage.unknown_index', 412);
      const err = await expectError(kuzzle.document.get(idx, 'none', 'd'), 'services.storage.unknown_collection', 412);
      assert.equal(err.message, `The collection "${idx}":"none" does not exist.`);
      await expectError(kuzzle.document.update(idx, 'none', 'd', { a: 1 }), 'services.storage.unknown_collection', 412);
      await expectError(kuzzle.document.get(idx, 'c', 'd'), 'services.storage.not_found', 404);
    });

    // The SDK's Http protocol refuses a request missing a URL parameter
    // itself: these requests only reach the node over WebSocket.
    test('argument checks: _id and body before index and collection', { skip: proto === 'http' }, async () => {
      const q = (req) => kuzzle.query({ controller: 'document', ...req });
      await expectError(q({ action: 'get', index: idx, collection: 'c' }), 'api.assert.missing_argument', 400);
      await expectError(q({ action: 'update', _id: 'd', index: idx, collection: 'c' }), 'api.assert.body_required', 400);
      await expectError(q({ action: 'mGet', index: idx, collection: 'c', body: { ids: [] } }), 'api.assert.missing_argument', 400);
      const err = await expectError(q({ action: 'get', _id: 'd', index: idx, collection: '' }), 'api.assert.missing_argument', 400);
      assert.equal(err.message, 'Missing argument "collection".');
    });
  });
}
