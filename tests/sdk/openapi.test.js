'use strict';
// server:openapi: the OpenAPI 3 document Korum generates from its own route
// table, checked by a real validator (@apidevtools/swagger-parser) and
// against server:publicApi, so it cannot drift from what is served.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const SwaggerParser = require('@apidevtools/swagger-parser');
const { Kuzzle, WebSocket } = require('kuzzle-sdk');
const { startNode, expectError } = require('./harness');

let node;
let kuzzle;
before(async () => {
  node = await startNode();
  kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
  await kuzzle.connect();
});
after(async () => {
  if (kuzzle) kuzzle.disconnect();
  if (node) assert.equal(await node.stop(), 0);
});

test('GET /_openapi is a valid OpenAPI 3 document of every served route', async () => {
  const res = await fetch(`http://127.0.0.1:${node.port}/_openapi`);
  assert.equal(res.status, 200);
  const doc = (await res.json()).result;
  assert.equal(doc.openapi, '3.0.1');
  // validate() dereferences in place: keep a copy for the checks below.
  await SwaggerParser.validate(structuredClone(doc));

  const api = (await kuzzle.query({ controller: 'server', action: 'publicApi' })).result;
  let routes = 0;
  for (const [controller, actions] of Object.entries(api)) {
    for (const [action, def] of Object.entries(actions)) {
      for (const { verb, url } of def.http) {
        const tmpl = url.replace(/:([^/]+)/g, '{$1}').replace(/(.)\/$/, '$1');
        const op = doc.paths[tmpl] && doc.paths[tmpl][verb.toLowerCase()];
        assert.ok(op, `${verb} ${url} (${controller}:${action}) missing`);
        routes++;
      }
    }
  }
  assert.ok(routes > 100, `only ${routes} routes`);
  assert.equal(doc.paths['/{index}/{collection}/_search'].post.summary, 'document:search');
});

test('format=yaml answers text; an unknown format is refused', async () => {
  const yaml = (await kuzzle.query({ controller: 'server', action: 'openapi', format: 'yaml' })).result;
  assert.equal(typeof yaml, 'string');
  assert.match(yaml, /"openapi": "3.0.1"/);
  await expectError(kuzzle.query({ controller: 'server', action: 'openapi', format: 'xml' }),
    'api.assert.invalid_argument', 400);
});
