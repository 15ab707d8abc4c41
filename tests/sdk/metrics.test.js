'use strict';
// server:metrics through the SDK over WebSocket and HTTP (GET /_metrics),
// in Kuzzle's shape, following a subscription up and down; GET /metrics
// has the same figures in Prometheus' format.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { nodeForTests, eventually } = require('./harness');

let node;
nodeForTests([], (n) => { node = n; });

async function prometheus(name) {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

for (const proto of ['websocket', 'http']) {
  describe(`server:metrics over ${proto}`, () => {
    let kuzzle;
    let sub;
    const idx = `${proto}-metrics`;

    before(async () => {
      const p = proto === 'http' ? new Http('127.0.0.1', { port: node.port }) : new WebSocket('127.0.0.1', { port: node.port });
      kuzzle = new Kuzzle(p);
      await kuzzle.connect();
      sub = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
      await sub.connect();
      await kuzzle.index.create(idx);
      await kuzzle.collection.create(idx, 'c');
    });
    after(() => { kuzzle.disconnect(); sub.disconnect(); });

    const metrics = async () => (await kuzzle.query({ controller: 'server', action: 'metrics' })).result;

    test("Kuzzle's sections and figures", async () => {
      const m = await metrics();
      assert.equal(typeof m.api.concurrentRequests, 'number');
      assert.equal(typeof m.api.pendingRequests, 'number');
      assert.ok(m.api.concurrentRequests >= 1, 'the asking request is running');
      assert.ok(m.network.connections.websocket >= 1, JSON.stringify(m.network));
      assert.equal(typeof m.network.connections['http/1.1'], 'number');
      assert.equal(m.realtime.rooms, 0);
      assert.equal(m.realtime.subscriptions, 0);
      assert.ok(m.cluster.commitIndex >= 1 && m.cluster.leader === true, JSON.stringify(m.cluster));
    });

    test('a subscription goes up, is notified, and comes down', async () => {
      const notified = [];
      const room = await sub.realtime.subscribe(idx, 'c', { equals: { n: 1 } }, (n) => notified.push(n));
      let m = await metrics();
      assert.equal(m.realtime.rooms, 1);
      assert.equal(m.realtime.subscriptions, 1);
      assert.equal(await prometheus('korum_realtime_subscriptions'), 1);
      const sent = m.realtime.notificationsSent;
      await kuzzle.document.create(idx, 'c', { n: 1 });
      await eventually(async () => notified.length === 1, { what: 'the notification' });
      m = await metrics();
      assert.ok(m.realtime.notificationsSent > sent, JSON.stringify(m.realtime));
      assert.equal(await prometheus('korum_notifications_sent_total'), m.realtime.notificationsSent);
      await sub.realtime.unsubscribe(room);
      await eventually(async () => (await metrics()).realtime.subscriptions === 0, { what: 'the subscription gone' });
      assert.equal((await metrics()).realtime.rooms, 0);
      assert.equal(await prometheus('korum_realtime_subscriptions'), 0);
    });
  });
}
