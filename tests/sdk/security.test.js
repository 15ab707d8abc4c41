'use strict';
// Kuzzle's security model through the official SDK: first admin, logins
// over WebSocket and HTTP, a profile restricted to one index and one
// collection, API keys, logout, refresh, expiry, forged tokens, and the
// login limit.
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { Kuzzle, WebSocket, Http } = require('kuzzle-sdk');
const { startNode, eventually, expectError } = require('./harness');

let node;
const clients = [];

function ws() {
  const k = new Kuzzle(new WebSocket('127.0.0.1', { port: node.port }));
  clients.push(k);
  return k;
}

async function http(port = node.port) {
  const k = new Kuzzle(new Http('127.0.0.1', { port }));
  clients.push(k);
  await k.connect();
  return k;
}


// A raw HTTP call with a bearer token, as any HTTP client would make.
async function raw(path, token, init = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${node.url}${path}`, { ...init, headers });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  node = await startNode(['--logins-per-second', '1000']);
});

after(async () => {
  for (const k of clients) k.disconnect();
  if (node) {
    const code = await node.stop();
    assert.equal(code, 0, `korum exit code (logs: ${node.logs.join('')})`);
  }
});

describe('security', () => {
  let admin; // logged in over WebSocket
  let restricted;

  test('a fresh node lets anonymous do everything, until createFirstAdmin with reset', async () => {
    const anon = ws();
    await anon.connect();
    await anon.index.create('i1');
    assert.equal(await anon.security.createFirstAdmin('admin', {
      content: { name: 'Ada' },
      credentials: { local: { username: 'admin', password: 'adminpw' } },
    }, { reset: true }).then((u) => u._id), 'admin');
    await expectError(anon.index.create('i2'), 'security.rights.unauthorized', 401);
    await expectError(anon.security.createFirstAdmin('again', {
      credentials: { local: { username: 'again', password: 'x' } },
    }), 'security.rights.unauthorized', 401);
    // Anonymous may still log in and read the public API.
    await anon.query({ controller: 'server', action: 'publicApi' });
  });

  test('login over WebSocket and over HTTP', async () => {
    admin = ws();
    await admin.connect();
    const jwt = await admin.auth.login('local', { username: 'admin', password: 'adminpw' });
    assert.equal(typeof jwt, 'string');
    const me = await admin.auth.getCurrentUser();
    assert.equal(me._id, 'admin');
    assert.deepEqual(me.profileIds, ['admin']);
    assert.equal(me.content.name, 'Ada');

    const h = await http();
    await h.auth.login('local', { username: 'admin', password: 'adminpw' });
    assert.equal((await h.auth.getCurrentUser())._id, 'admin');
    assert.equal((await h.auth.checkToken()).valid, true);

    await expectError(h.auth.login('local', { username: 'admin', password: 'wrong' }), 'security.credentials.rejected');
  });

  test('a profile restricted to one index and collection: documents, search and subscribe', async () => {
    await admin.index.create('i2');
    for (const [i, c] of [['i1', 'c1'], ['i1', 'c2'], ['i2', 'c1']]) {
      await admin.collection.create(i, c);
    }
    await admin.security.createRole('reader', {
      controllers: {
        document: { actions: { '*': true } },
        realtime: { actions: { subscribe: true, unsubscribe: true, join: true, list: true } },
        index: { actions: { mDelete: true, delete: true } },
        auth: { actions: { getCurrentUser: true, getMyRights: true, logout: true, refreshToken: true } },
      },
    });
    await admin.security.createProfile('reader', {
      policies: [{ roleId: 'reader', restrictedTo: [{ index: 'i1', collections: ['c1'] }] }],
    });
    await admin.security.createUser('ru', {
      content: { profileIds: ['reader'] },
      credentials: { local: { username: 'ru', password: 'rupw' } },
    });

    restricted = ws();
    await restricted.connect();
    await restricted.auth.login('local', { username: 'ru', password: 'rupw' });

    // Allowed on i1/c1.
    await restricted.document.create('i1', 'c1', { n: 1 }, 'd1', { refresh: 'wait_for' });
    assert.equal((await restricted.document.get('i1', 'c1', 'd1'))._source.n, 1);
    assert.equal((await restricted.document.search('i1', 'c1', {})).total, 1);
    const seen = [];
    await restricted.realtime.subscribe('i1', 'c1', {}, (n) => seen.push(n));
    await admin.document.create('i1', 'c1', { n: 2 }, 'd2');
    await eventually(() => seen.find((n) => n.result._id === 'd2'), { what: 'the notification on i1/c1' });

    // Forbidden elsewhere, on every kind of action.
    for (const [i, c] of [['i1', 'c2'], ['i2', 'c1']]) {
      await expectError(restricted.document.create(i, c, { n: 1 }), 'security.rights.forbidden', 403);
      await expectError(restricted.document.get(i, c, 'd1'), 'security.rights.forbidden', 403);
      await expectError(restricted.document.search(i, c, {}), 'security.rights.forbidden', 403);
      await expectError(restricted.document.mCreate(i, c, [{ body: { n: 1 } }]), 'security.rights.forbidden', 403);
      await expectError(restricted.realtime.subscribe(i, c, {}, () => {}), 'security.rights.forbidden', 403);
    }
    // A room of a forbidden collection cannot be joined by its id, and
    // realtime:list shows only the rooms of allowed collections.
    const other = await admin.realtime.subscribe('i2', 'c1', {}, () => {});
    await expectError(restricted.query({ controller: 'realtime', action: 'join', body: { roomId: other } }),
      'security.rights.forbidden', 403);
    const rooms = await restricted.query({ controller: 'realtime', action: 'list' });
    assert.deepEqual(Object.keys(rooms.result), ['i1']);
    // index:mDelete deletes only the indexes the user may delete.
    const deleted = await restricted.index.mDelete(['i2']);
    assert.deepEqual(deleted, []);
    assert.equal(await admin.index.exists('i2'), true);

    // And on what its role does not name at all.
    await expectError(restricted.index.create('i3'), 'security.rights.forbidden', 403);
    await expectError(restricted.security.getUser('admin'), 'security.rights.forbidden', 403);

    const rights = await restricted.auth.getMyRights();
    assert.ok(rights.some((r) => r.controller === 'document' && r.index === 'i1' && r.collection === 'c1' && r.value === 'allowed'));
  });

  test('API keys: create, use, search, delete', async () => {
    const key = await admin.auth.createApiKey('ci key');
    const token = key._source.token;
    const viaKey = await http();
    viaKey.jwt = token;
    assert.equal((await viaKey.auth.getCurrentUser())._id, 'admin');
    const found = await admin.auth.searchApiKeys({ match: { description: 'ci' } });
    assert.equal(found.total, 1);
    assert.equal(found.hits[0]._source.token, undefined);
    await admin.auth.deleteApiKey(key._id);
    const r = await raw('/_me', token);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.id, 'security.token.invalid');

    // An administrator's API key for another user.
    const forRu = await admin.security.createApiKey('ru', 'for ru');
    assert.equal((await raw('/_me', forRu._source.token)).body.result._id, 'ru');
    await admin.security.deleteApiKey('ru', forRu._id);
    assert.equal((await raw('/_me', forRu._source.token)).status, 401);
  });

  test('logout refuses the token at once; forged and tampered tokens are refused', async () => {
    const h = await http();
    await h.auth.login('local', { username: 'ru', password: 'rupw' });
    const token = h.jwt;
    assert.equal((await raw('/_me', token)).status, 200);
    await h.auth.logout();
    const after = await raw('/_me', token);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.id, 'security.token.invalid');

    // Tampered: the payload names the admin, the signature is ru's.
    const [hdr, , sig] = admin.jwt.split('.');
    const payload = Buffer.from(JSON.stringify({ _id: 'admin', iat: 1, jti: 'x', gen: 0 })).toString('base64url');
    for (const bad of [`${hdr}.${payload}.${sig}`, 'not.a.token', `${hdr}.${payload}.`]) {
      const r = await raw('/_me', bad);
      assert.equal(r.status, 401, bad);
      assert.equal(r.body.error.id, 'security.token.invalid');
    }
    // Over WebSocket too: never served as the anonymous user.
    const k = ws();
    await k.connect();
    k.jwt = `${hdr}.${payload}.${sig}`;
    await expectError(k.server.now(), 'security.token.invalid', 401);
  });

  test('refresh and expiry', async () => {
    const k = ws();
    await k.connect();
    await k.auth.login('local', { username: 'ru', password: 'rupw' }, '1s');
    const first = k.jwt;
    await k.auth.refreshToken();
    assert.notEqual(k.jwt, first);
    assert.equal((await k.auth.getCurrentUser())._id, 'ru');

    const h = await http();
    await h.auth.login('local', { username: 'ru', password: 'rupw' }, '1s');
    const short = h.jwt;
    await eventually(async () => {
      const r = await raw('/_me', short);
      return r.status === 401 && r.body.error.id === 'security.token.expired';
    }, { what: 'the token to expire' });
  });

  test('a subscriber whose token is revoked or expires gets TokenExpired and loses its subscriptions', async () => {
    for (const end of ['revoke', 'expire']) {
      const k = ws();
      await k.connect();
      await k.auth.login('local', { username: 'ru', password: 'rupw' }, end === 'expire' ? '1s' : '1h');
      let expired = false;
      k.on('tokenExpired', () => { expired = true; });
      const seen = [];
      await k.realtime.subscribe('i1', 'c1', { equals: { tag: end } }, (n) => seen.push(n));
      await admin.document.create('i1', 'c1', { tag: end }, `${end}-1`);
      await eventually(() => seen.length === 1, { what: 'the first notification' });
      if (end === 'revoke') await admin.query({ controller: 'security', action: 'revokeTokens', _id: 'ru' });
      await eventually(() => expired, { what: `TokenExpired after the token ${end}s` });
      // The subscription is gone on the server: realtime:count of the room
      // no longer counts this connection.
      await admin.document.create('i1', 'c1', { tag: end }, `${end}-2`);
      const probe = [];
      await admin.realtime.subscribe('i1', 'c1', { equals: { tag: end } }, (n) => probe.push(n));
      await admin.document.create('i1', 'c1', { tag: end }, `${end}-3`);
      await eventually(() => probe.length === 1, { what: 'the probe notification' });
      assert.equal(seen.length, 1, 'no notification after TokenExpired');
    }
  });

  test('global logout revokes every token of the user', async () => {
    const a = await http();
    const b = await http();
    await a.auth.login('local', { username: 'ru', password: 'rupw' });
    await b.auth.login('local', { username: 'ru', password: 'rupw' });
    const tb = b.jwt;
    await a.auth.logout({ global: true });
    assert.equal((await raw('/_me', tb)).status, 401);
  });

  test('searchUsers and searchProfiles scroll with scrollUsers and scrollProfiles', async () => {
    for (const n of [1, 2, 3, 4, 5]) {
      await admin.security.createUser(`scroller${n}`, { content: { profileIds: ['default'], team: 'scroll' } });
    }
    const first = await admin.security.searchUsers({ query: { term: { team: 'scroll' } } }, { scroll: '10s', size: 2 });
    assert.equal(first.total, 5);
    const seen = first.hits.map((h) => h._id);
    let page = first;
    while ((page = await page.next())) seen.push(...page.hits.map((h) => h._id));
    assert.deepEqual(seen, ['scroller1', 'scroller2', 'scroller3', 'scroller4', 'scroller5']);
    // Over HTTP, through Kuzzle's route.
    const sid = (await admin.query({ controller: 'security', action: 'searchUsers', scroll: '10s', size: 4,
      body: { query: { term: { team: 'scroll' } } } })).result.scrollId;
    const next = await raw(`/users/_scroll/${sid}`, admin.jwt);
    assert.deepEqual(next.body.result.hits.map((h) => h._id), ['scroller5']);
    await expectError(admin.query({ controller: 'security', action: 'scrollUsers', scrollId: 'bogus' }),
      'services.storage.unknown_scroll_id', 404);
    await expectError(admin.query({ controller: 'security', action: 'scrollProfiles', scrollId: sid }),
      'services.storage.unknown_scroll_id', 404);
    await expectError(admin.security.searchUsers({}, { scroll: '2h', size: 2 }),
      'services.storage.scroll_duration_too_great', 400);
    const profiles = await admin.security.searchProfiles({}, { scroll: '10s', size: 1 });
    const pids = profiles.hits.map((h) => h._id);
    let pp = profiles;
    while ((pp = await pp.next())) pids.push(...pp.hits.map((h) => h._id));
    assert.equal(pids.length, profiles.total);
    assert.ok(pids.includes('default'));
  });

  test('a role naming an unknown controller or action is refused; force allows unknown controllers', async () => {
    await expectError(admin.security.createRole('bad', { controllers: { nope: { actions: { x: true } } } }),
      'security.role.unknown_controller', 400);
    await expectError(admin.security.createRole('bad', { controllers: { document: { actions: { nope: true } } } }),
      'security.role.unknown_action', 400);
    await expectError(admin.security.createRole('bad', { controllers: { '*': { actions: { nope: true } } } }),
      'security.role.unknown_action', 400);
    await expectError(admin.security.updateRole('reader', { controllers: { document: { actions: { nope: true } } } }),
      'security.role.unknown_action', 400);
    const forced = await admin.security.createRole('plugin-role',
      { controllers: { 'my-plugin/ctrl': { actions: { run: true } }, document: { actions: { get: true } } } }, { force: true });
    assert.equal(forced._id, 'plugin-role');
    await expectError(admin.security.createRole('bad', { controllers: { document: { actions: { nope: true } } } }, { force: true }),
      'security.role.unknown_action', 400);
  });

  test('searchUsersByCredentials searches the local credentials', async () => {
    await admin.security.createUser('cred-bob', { content: { profileIds: ['default'] },
      credentials: { local: { username: 'bob@example.com', password: 'bobpw' } } });
    // The SDK has no method for this action: through query().
    const res = (await admin.query({ controller: 'security', action: 'searchUsersByCredentials', strategy: 'local',
      body: { query: { bool: { must: [{ match: { username: 'bob@example.com' } }] } } } })).result;
    assert.deepEqual(res.hits, [{ kuid: 'cred-bob', username: 'bob@example.com' }]);
    assert.equal(res.total, 1);
    const viaHttp = await raw('/credentials/local/users/_search', admin.jwt, {
      method: 'POST', body: JSON.stringify({ bool: { must: [{ match: { username: 'bob@example.com' } }] } }),
    });
    assert.deepEqual(viaHttp.body.result.hits, [{ kuid: 'cred-bob', username: 'bob@example.com' }]);
    await expectError(admin.query({ controller: 'security', action: 'searchUsersByCredentials', strategy: 'oauth', body: {} }),
      'security.credentials.unknown_strategy', 400);
  });

  test('updateUserMapping merges into the users mapping, which getUserMapping then answers', async () => {
    const mapping = { properties: { firstName: { type: 'text' }, birthDate: { type: 'date' } } };
    // A fresh cluster raises its feature version (which mapping updates
    // need) shortly after it starts.
    const updated = await eventually(async () => {
      try {
        return await admin.security.updateUserMapping(mapping);
      } catch (e) {
        if (e.id === 'cluster.process.feature_unavailable') return undefined;
        throw e;
      }
    }, { what: 'updateUserMapping accepted' });
    const want = { profileIds: { type: 'keyword' }, firstName: { type: 'text' }, birthDate: { type: 'date' } };
    assert.deepEqual(updated, { dynamic: 'false', properties: want });
    assert.deepEqual(await admin.security.getUserMapping(), { mapping: want });
    // Over HTTP, Kuzzle's route; a field's type cannot change.
    const r = await raw('/users/_mapping', admin.jwt, {
      method: 'PUT', body: JSON.stringify({ properties: { lastName: { type: 'keyword' } } }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.result.properties.lastName, { type: 'keyword' });
    await expectError(admin.security.updateUserMapping({ properties: { firstName: { type: 'keyword' } } }),
      'services.storage.cannot_change_mapping', 400);
    assert.deepEqual((await admin.security.getUserMapping()).mapping.firstName, { type: 'text' });
    // searchUsers compiles its query with the mapping: firstName is text.
    await admin.security.createUser('mapped', { content: { profileIds: ['default'], firstName: 'Grace Hopper' } });
    const found = await admin.security.searchUsers({ query: { match: { firstName: 'hopper' } } });
    assert.deepEqual(found.hits.map((h) => h._id), ['mapped']);
    const none = await admin.security.searchUsers({ query: { term: { firstName: 'Grace Hopper' } } });
    assert.equal(none.total, 0);
    // Profiles and roles have theirs.
    await admin.security.updateProfileMapping({ properties: { label: { type: 'text' } } });
    assert.deepEqual((await admin.security.getProfileMapping()).mapping.label, { type: 'text' });
    await admin.security.updateRoleMapping({ properties: { label: { type: 'keyword' } } });
    assert.deepEqual((await admin.security.getRoleMapping()).mapping.label, { type: 'keyword' });
    // Not for anonymous.
    const anon = ws();
    await anon.connect();
    await expectError(anon.security.updateUserMapping({ properties: {} }), 'security.rights.unauthorized', 401);
  });

  test('the security routes win over /:index/:collection', async () => {
    const r = await raw('/profiles/p2', admin.jwt, {
      method: 'PUT', body: JSON.stringify({ policies: [{ roleId: 'reader' }] }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.action, 'createOrReplaceProfile');
    assert.equal((await admin.security.getProfile('p2'))._id, 'p2');
  });
});

describe('login limit', () => {
  let limited;
  before(async () => { limited = await startNode(); });
  after(async () => { if (limited) await limited.stop(); });

  test('past limits.loginsPerSecond, logins of one user are refused', async () => {
    const k = await http(limited.port);
    // Sent at once: they reach the node within the same second.
    const errors = await Promise.all([0, 1, 2, 3, 4].map((i) => k.auth
      .login('local', { username: 'nobody', password: `guess${i}` })
      .then(() => 'logged in', (e) => e.id)));
    assert.ok(errors.includes('security.credentials.too_many_logins'), errors.join(','));
  });
});
