'use strict';
// Memory storage (ms controller) through the official SDK's kuzzle.ms.*,
// over WebSocket and over HTTP (GET routes carry their arguments in the
// query string, POST routes in the body).
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { nodeForTests, eventually, expectError } = require('./harness');

let node;
nodeForTests([], (n) => { node = n; });

const sortStrings = (a) => [...a].sort();

for (const proto of ['websocket', 'http']) {
  describe(`ms over ${proto}`, () => {
    let kuzzle;
    let ms;
    // Each protocol works on its own keys: both suites share one node.
    const k = (name) => `${proto}:${name}`;

    before(async () => {
      const p = proto === 'http' ? new Http('127.0.0.1', { port: node.port }) : new WebSocket('127.0.0.1', { port: node.port });
      kuzzle = new Kuzzle(p);
      await kuzzle.connect();
      ms = kuzzle.ms;
    });
    after(() => kuzzle.disconnect());

    test('strings and counters', async () => {
      assert.equal(await ms.set(k('s'), 'foo'), undefined);
      assert.equal(await ms.get(k('s')), 'foo');
      assert.equal(await ms.get(k('missing')), null);
      assert.equal(await ms.append(k('s'), 'bar'), 6);
      assert.equal(await ms.strlen(k('s')), 6);
      assert.equal(await ms.getrange(k('s'), 1, 3), 'oob');
      assert.equal(await ms.getset(k('s'), 'new'), 'foobar');
      assert.equal(await ms.setnx(k('s'), 'x'), false);
      assert.equal(await ms.setnx(k('n'), 10), true);
      assert.equal(await ms.incr(k('n')), 11);
      assert.equal(await ms.incrby(k('n'), 5), 16);
      assert.equal(await ms.decr(k('n')), 15);
      assert.equal(await ms.decrby(k('n'), 10), 5);
      assert.equal(await ms.incrbyfloat(k('n'), 0.5), 5.5);
      assert.equal(await ms.mset([{ key: k('a'), value: '1' }, { key: k('b'), value: '2' }]), undefined);
      assert.deepEqual(await ms.mget([k('a'), k('b'), k('nope')]), ['1', '2', null]);
      assert.equal(await ms.msetnx([{ key: k('a'), value: '9' }, { key: k('c'), value: '3' }]), false);
      assert.equal(await ms.exists([k('a'), k('b'), k('c')]), 2);
      await ms.set(k('nx'), 'v', { nx: true });
      assert.equal(await ms.get(k('nx')), 'v');
      await expectError(ms.set(k('x'), 'v', { nx: true, xx: true }), 'api.assert.mutually_exclusive', 400);
      await expectError(ms.incr(k('s')), 'services.cache.command_failed', 400);
      await expectError(ms.hget(k('s'), 'f'), 'services.cache.command_failed', 400);
    });

    test('bits and hyperloglog', async () => {
      await ms.set(k('bits'), 'ab');
      assert.equal(await ms.bitcount(k('bits')), 6);
      assert.equal(await ms.bitcount(k('bits'), { start: 1, end: 1 }), 3);
      assert.equal(await ms.getbit(k('bits'), 1), 1);
      assert.equal(await ms.bitpos(k('bits'), 1), 1);
      assert.equal(await ms.bitop(k('dst'), 'OR', [k('bits'), k('a')]), 2);
      assert.equal(await ms.pfadd(k('hll'), ['a', 'b', 'c']), true);
      assert.equal(await ms.pfadd(k('hll2'), ['c', 'd']), true);
      assert.equal(await ms.pfcount([k('hll'), k('hll2')]), 4);
      assert.equal(await ms.pfmerge(k('hll3'), [k('hll'), k('hll2')]), undefined);
      assert.equal(await ms.pfcount([k('hll3')]), 4);
    });

    test('keys and expirations', async () => {
      await ms.set(k('ttl'), 'v', { ex: 100 });
      const ttl = await ms.ttl(k('ttl'));
      assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
      assert.ok(await ms.pttl(k('ttl')) > 90000);
      assert.equal(await ms.persist(k('ttl')), true);
      assert.equal(await ms.ttl(k('ttl')), -1);
      assert.equal(await ms.expire(k('ttl'), 50), true);
      assert.equal(await ms.pexpire(k('ttl'), 50000), true);
      assert.equal(await ms.expireat(k('ttl'), Math.floor(Date.now() / 1000) + 50), true);
      assert.equal(await ms.pexpireat(k('ttl'), Date.now() + 50000), true);
      assert.equal(await ms.expire(k('nope'), 10), false);
      await ms.setex(k('sx'), 'v', 10);
      await ms.psetex(k('px'), 'v', 10000);
      assert.ok(await ms.pttl(k('px')) > 0);
      // An expired key reads as absent at once.
      await ms.psetex(k('gone'), 'v', 1);
      await eventually(async () => (await ms.get(k('gone'))) === null, { what: 'expiry' });
      assert.equal(await ms.type(k('sx')), 'string');
      assert.equal(await ms.type(k('nope')), 'none');
      assert.deepEqual(sortStrings(await ms.keys(`${k('')}[ab]`)), [k('a'), k('b')]);
      await ms.rename(k('sx'), k('sx2'));
      assert.equal(await ms.renamenx(k('sx2'), k('a')), false);
      assert.equal(await ms.del([k('sx2'), k('px')]), 2);
      assert.equal(await ms.touch([k('a'), k('nope')]), 1);
      assert.equal(await ms.object(k('n'), 'encoding'), 'embstr');
      assert.ok(await ms.dbsize() > 5);
      assert.equal(typeof await ms.randomkey(), 'string');
      assert.equal(await ms.ping(), 'PONG');
      const [s] = await ms.time();
      assert.ok(Math.abs(s - Date.now() / 1000) < 60);
      const all = [];
      let cursor = 0;
      do {
        const page = await ms.scan(cursor, { match: `${k('')}*`, count: 3 });
        all.push(...page.values);
        cursor = Number(page.cursor);
      } while (cursor !== 0);
      assert.ok(all.includes(k('a')) && all.includes(k('hll')), `scan: ${all}`);
      await expectError(ms.scan(0, { count: 'many' }), 'api.assert.invalid_type', 400);
    });

    test('hashes', async () => {
      assert.equal(await ms.hset(k('h'), 'f1', 'v1'), true);
      assert.equal(await ms.hsetnx(k('h'), 'f1', 'x'), false);
      assert.equal(await ms.hmset(k('h'), [{ field: 'f2', value: 'v2' }, { field: 'n', value: '1' }]), undefined);
      assert.equal(await ms.hget(k('h'), 'f1'), 'v1');
      assert.equal(await ms.hexists(k('h'), 'f2'), true);
      assert.deepEqual(await ms.hgetall(k('h')), { f1: 'v1', f2: 'v2', n: '1' });
      assert.deepEqual(await ms.hmget(k('h'), ['f1', 'zz']), ['v1', null]);
      assert.deepEqual(sortStrings(await ms.hkeys(k('h'))), ['f1', 'f2', 'n']);
      assert.deepEqual(sortStrings(await ms.hvals(k('h'))), ['1', 'v1', 'v2']);
      assert.equal(await ms.hlen(k('h')), 3);
      assert.equal(await ms.hstrlen(k('h'), 'f1'), 2);
      assert.equal(await ms.hincrby(k('h'), 'n', 5), 6);
      assert.equal(await ms.hincrbyfloat(k('h'), 'n', 1.5), 7.5);
      const page = await ms.hscan(k('h'), 0, { match: 'f*' });
      assert.equal(page.cursor, '0');
      assert.deepEqual(page.values, ['f1', 'v1', 'f2', 'v2']);
      assert.equal(await ms.hdel(k('h'), ['f1', 'zz']), 1);
    });

    test('lists', async () => {
      assert.equal(await ms.rpush(k('l'), ['a', 'b', 'c']), 3);
      assert.equal(await ms.lpush(k('l'), ['z']), 4);
      assert.equal(await ms.rpushx(k('l'), 'd'), 5);
      assert.equal(await ms.lpushx(k('nope'), 'd'), 0);
      assert.deepEqual(await ms.lrange(k('l'), 0, -1), ['z', 'a', 'b', 'c', 'd']);
      assert.equal(await ms.lindex(k('l'), 1), 'a');
      assert.equal(await ms.linsert(k('l'), 'after', 'a', 'a2'), 6);
      assert.equal(await ms.llen(k('l')), 6);
      assert.equal(await ms.lrem(k('l'), 0, 'a2'), 1);
      assert.equal(await ms.lset(k('l'), 0, 'Z'), undefined);
      assert.equal(await ms.lpop(k('l')), 'Z');
      assert.equal(await ms.rpop(k('l')), 'd');
      assert.equal(await ms.ltrim(k('l'), 0, 1), undefined);
      assert.equal(await ms.rpoplpush(k('l'), k('l2')), 'b');
      assert.deepEqual(await ms.lrange(k('l2'), 0, -1), ['b']);
      await ms.rpush(k('nums'), ['3', '1', '2']);
      assert.deepEqual(await ms.sort(k('nums'), { direction: 'DESC' }), ['3', '2', '1']);
      assert.deepEqual(await ms.sort(k('nums'), { alpha: true, limit: [0, 2] }), ['1', '2']);
      await expectError(ms.lset(k('l'), 99, 'x'), 'services.cache.command_failed', 400);
    });

    test('sets', async () => {
      assert.equal(await ms.sadd(k('s1'), ['a', 'b', 'c']), 3);
      assert.equal(await ms.sadd(k('s2'), ['b', 'd']), 2);
      assert.equal(await ms.scard(k('s1')), 3);
      assert.equal(await ms.sismember(k('s1'), 'a'), true);
      assert.deepEqual(sortStrings(await ms.smembers(k('s1'))), ['a', 'b', 'c']);
      assert.deepEqual(sortStrings(await ms.sdiff(k('s1'), [k('s2')])), ['a', 'c']);
      assert.deepEqual(await ms.sinter([k('s1'), k('s2')]), ['b']);
      assert.deepEqual(sortStrings(await ms.sunion([k('s1'), k('s2')])), ['a', 'b', 'c', 'd']);
      assert.equal(await ms.sdiffstore(k('s1'), [k('s2')], k('sd')), 2);
      assert.equal(await ms.sinterstore(k('si'), [k('s1'), k('s2')]), 1);
      assert.equal(await ms.sunionstore(k('su'), [k('s1'), k('s2')]), 4);
      assert.equal(await ms.smove(k('s1'), k('s2'), 'a'), true);
      assert.equal(await ms.srem(k('s1'), ['b']), 1);
      assert.equal((await ms.srandmember(k('su'))).length, 1);
      assert.equal((await ms.srandmember(k('su'), { count: 2 })).length, 2);
      assert.equal((await ms.spop(k('su'), { count: 2 })).length, 2);
      assert.equal(await ms.scard(k('su')), 2);
      const page = await ms.sscan(k('s2'), 0);
      assert.deepEqual(page.values, ['a', 'b', 'd']);
    });

    test('sorted sets', async () => {
      assert.equal(await ms.zadd(k('z'), [{ score: 1, member: 'a' }, { score: 2, member: 'b' }, { score: 3, member: 'c' }]), 3);
      assert.equal(await ms.zcard(k('z')), 3);
      assert.equal(await ms.zscore(k('z'), 'b'), 2);
      assert.equal(await ms.zincrby(k('z'), 'a', 5), '6');
      assert.deepEqual(await ms.zrange(k('z'), 0, -1), [{ member: 'b', score: 2 }, { member: 'c', score: 3 }, { member: 'a', score: 6 }]);
      assert.deepEqual(await ms.zrevrange(k('z'), 0, 0), [{ member: 'a', score: 6 }]);
      assert.deepEqual(await ms.zrangebyscore(k('z'), 2, 3), [{ member: 'b', score: 2 }, { member: 'c', score: 3 }]);
      assert.deepEqual(await ms.zrevrangebyscore(k('z'), 3, 10, { limit: [0, 1] }), [{ member: 'a', score: 6 }]);
      assert.equal(await ms.zcount(k('z'), '(2', '+inf'), 2);
      assert.equal(await ms.zrank(k('z'), 'c'), 1);
      assert.equal(await ms.zrevrank(k('z'), 'c'), 1);
      await ms.zadd(k('lex'), [{ score: 0, member: 'a' }, { score: 0, member: 'b' }, { score: 0, member: 'c' }]);
      assert.deepEqual(await ms.zrangebylex(k('lex'), '-', '(c'), ['a', 'b']);
      assert.deepEqual(await ms.zrevrangebylex(k('lex'), '[b', '+', { limit: [0, 1] }), ['c']);
      assert.equal(await ms.zlexcount(k('lex'), '[b', '+'), 2);
      assert.equal(await ms.zremrangebylex(k('lex'), '[a', '[a'), 1);
      assert.equal(await ms.zremrangebyrank(k('lex'), 0, 0), 1);
      assert.equal(await ms.zunionstore(k('zu'), [k('z'), k('lex')], { weights: [2, 1], aggregate: 'max' }), 3);
      assert.equal(await ms.zinterstore(k('zi'), [k('z'), k('zu')]), 3);
      assert.equal(await ms.zremrangebyscore(k('zu'), 12, 12), 1);
      assert.equal(await ms.zrem(k('z'), ['a', 'nope']), 1);
      const page = await ms.zscan(k('z'), 0);
      assert.deepEqual(page.values, ['b', '2', 'c', '3']);
      await expectError(ms.zadd(k('z'), [{ score: 'x', member: 'a' }]), 'api.assert.invalid_type', 400);
      await expectError(ms.zadd(k('z'), []), 'api.assert.empty_argument', 400);
    });

    test('geo', async () => {
      assert.equal(await ms.geoadd(k('geo'), [{ lon: 13.361389, lat: 38.115556, name: 'Palermo' },
        { lon: 15.087269, lat: 37.502669, name: 'Catania' }]), 2);
      const d = await ms.geodist(k('geo'), 'Palermo', 'Catania', { unit: 'km' });
      assert.ok(Math.abs(d - 166.2742) < 0.001, `distance ${d}`);
      assert.deepEqual(await ms.geohash(k('geo'), ['Palermo', 'Catania']), ['sqc8b49rny0', 'sqdtr74hyu0']);
      const [pos] = await ms.geopos(k('geo'), ['Palermo']);
      assert.ok(Math.abs(pos[0] - 13.361389) < 1e-5 && Math.abs(pos[1] - 38.115556) < 1e-5, `geopos ${pos}`);
      const near = await ms.georadius(k('geo'), 15, 37, 200, 'km', { withdist: true, sort: 'asc' });
      assert.deepEqual(near.map((p) => p.name), ['Catania', 'Palermo']);
      assert.ok(Math.abs(near[0].distance - 56.4413) < 0.001);
      const byMember = await ms.georadiusbymember(k('geo'), 'Palermo', 10, 'km', { withcoord: true });
      assert.equal(byMember[0].name, 'Palermo');
      assert.equal(byMember[0].coordinates.length, 2);
      await expectError(ms.geoadd(k('geo'), [{ lon: 1 }]), 'api.assert.invalid_argument', 400);
    });

    test('mexecute', async () => {
      const res = await ms.mexecute([
        { action: 'set', args: { _id: k('mx'), body: { value: 'v' } } },
        { action: 'get', args: { _id: k('mx') } },
        { action: 'incr', args: { _id: k('mx') } },
      ]);
      assert.deepEqual(res[0], [null, 'OK']);
      assert.deepEqual(res[1], [null, 'v']);
      assert.ok(res[2][0] && res[2][1] === null, `a failed action is its own error: ${JSON.stringify(res[2])}`);
      await expectError(ms.mexecute([{ action: 'mexecute', args: {} }]), 'api.assert.forbidden_argument', 400);
    });
  });
}

describe('ms limits and flushdb', () => {
  test('an oversized collection is a 413 and changes nothing; flushdb empties', async () => {
    const kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
    await kuzzle.connect();
    try {
      const many = Array.from({ length: 10001 }, (_, i) => `m${i}`);
      await expectError(kuzzle.ms.sadd('big', many), 'services.cache.limit_exceeded', 413);
      assert.equal(await kuzzle.ms.scard('big'), 0);
      await kuzzle.ms.set('x', 1);
      assert.equal(await kuzzle.ms.flushdb(), undefined);
      assert.equal(await kuzzle.ms.dbsize(), 0);
    } finally {
      kuzzle.disconnect();
    }
  });
});
