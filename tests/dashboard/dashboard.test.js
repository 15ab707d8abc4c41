'use strict';
// The live cluster dashboard (/_dashboard) in Debian's headless Chromium,
// driven by playwright-core, against three real bin/korum nodes formed
// through a real redis-server: the page shows the three nodes and the
// leader, shows a new leader once the old one is killed (SIGKILL), and
// asks for a login once security is locked down; on another cluster, when
// the node serving the page is killed, the page polls a survivor instead
// and says so. Screenshots go to
// KORUM_DASHBOARD_SCREENSHOTS (a directory; default results/dashboard at
// the repository's root), and their paths are printed.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '../..');
const BIN = process.env.KORUM_BIN || path.join(ROOT, 'bin/korum');
const CHROMIUM = process.env.KORUM_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(process.env.KORUM_DASHBOARD_SCREENSHOTS || path.join(ROOT, 'results/dashboard'));
const SECRET = 'dashboard-test-secret';
// Every node needs its own IP: 127.0.0.(base+1..3), base from
// KORUM_TEST_IP_BASE as in tests/integration (so parallel runs can keep
// apart), else 100.
const IP_BASE = (() => {
  const v = parseInt(process.env.KORUM_TEST_IP_BASE, 10);
  return v > 0 && v < 240 ? v : 100;
})();

function freePort(host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Polls fn until it returns a truthy value; fails at the deadline, or at
// once when abort() returns an error (a process that died).
async function eventually(fn, { timeout = 10000, interval = 50, what = 'condition', abort = () => null } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    const fatal = abort();
    if (fatal) throw fatal;
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// CI installs Chromium and redis-server (.ci/run): there, a missing one is
// a failure, not a reason to skip.
function missing() {
  const need = [[CHROMIUM, 'chromium'], ['redis-server', 'redis-server']];
  const gone = need.filter(([p]) => !(path.isAbsolute(p) ? fs.existsSync(p) : onPath(p))).map(([, n]) => n);
  if (gone.length && process.env.CI) throw new Error(`not installed: ${gone.join(', ')} (.ci/run installs them)`);
  return gone.length ? `not installed: ${gone.join(', ')}` : false;
}
function onPath(cmd) {
  return (process.env.PATH || '').split(path.delimiter).some((d) => fs.existsSync(path.join(d, cmd)));
}

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) {
    try { await c(); } catch (e) { console.error('cleanup:', e.message); }
  }
});

// spawnLogged starts a process that is killed when the tests end.
function spawnLogged(cmd, args, name) {
  const logs = [];
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => logs.push(d.toString()));
  proc.stderr.on('data', (d) => logs.push(d.toString()));
  const state = { proc, logs, name, exited: null };
  proc.on('exit', (code, signal) => { state.exited = code ?? signal; });
  cleanups.push(async () => {
    if (state.exited === null) {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await done;
    }
  });
  return state;
}

async function startRedis() {
  const port = await freePort('127.0.0.1');
  const r = spawnLogged('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '',
    '--appendonly', 'no', '--protected-mode', 'no'], 'redis');
  await eventually(() => new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => { c.write('PING\r\n'); });
    c.once('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
    c.once('error', () => resolve(false));
  }), { timeout: 10000, interval: 50, what: 'redis-server to answer' });
  return `redis://127.0.0.1:${port}`;
}

async function startNode(redisURL, i) {
  const ip = `127.0.0.${IP_BASE + i}`;
  const apiPort = await freePort(ip);
  const clusterPort = await freePort(ip);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'korum-dashboard-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const args = ['--data-dir', dataDir, '--api-addr', `${ip}:${apiPort}`,
    '--cluster-addr', `${ip}:${clusterPort}`, '--cluster-secret', SECRET, '--redis', redisURL,
    '--heartbeat', '500ms', '--quorum-contact-timeout', '3s', '--dead-node-timeout', '6s',
    '--join-timeout', '20s', '--log-level', 'warn'];
  const n = spawnLogged(BIN, args, `node ${ip}:${apiPort}`);
  n.args = args;
  n.url = `http://${ip}:${apiPort}`;
  return n;
}

async function api(node, method, route, body, jwt) {
  const headers = { 'Content-Type': 'application/json' };
  if (jwt) headers.Authorization = `Bearer ${jwt}`;
  const res = await fetch(node.url + route, { method, headers, body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(5000) });
  return res.json();
}

// The node's id, as it signs its responses.
async function nodeID(node) {
  return (await api(node, 'GET', '/_now')).node;
}

// startCluster starts three nodes on their own redis-server and waits
// until they are three voters with a leader.
async function startCluster() {
  const redisURL = await startRedis();
  const nodes = [];
  for (let i = 1; i <= 3; i++) nodes.push(await startNode(redisURL, i));
  for (const n of nodes) {
    await eventually(async () => {
      const res = await fetch(`${n.url}/_ready`, { signal: AbortSignal.timeout(2000) });
      return res.status === 200;
    }, { timeout: 60000, interval: 100, what: `${n.name} /_ready`,
      abort: () => nodes.map((m) => m.exited !== null && new Error(`${m.name} exited (${m.exited}): ${m.logs.join('')}`)).find(Boolean) });
  }
  for (const n of nodes) n.id = await nodeID(n);
  // Every node sees three voters and a leader.
  let leaderID;
  await eventually(async () => {
    const st = (await api(nodes[0], 'GET', '/cluster/_status')).result;
    leaderID = st && st.leader;
    return st && st.nodes.length === 3 && st.nodes.filter((n) => n.role === 'voter').length === 3 && leaderID;
  }, { timeout: 60000, interval: 200, what: 'three voters and a leader' });
  return { nodes, leaderID };
}

// openPage starts Chromium and returns its page, with the script errors
// it reports.
async function openPage() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'korum-chromium-'));
  cleanups.push(() => fs.rmSync(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 }, // a laptop screen
  });
  cleanups.push(() => context.close());
  const page = context.pages()[0] || await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  return { page, consoleErrors };
}

test('the dashboard follows a three-node cluster through the loss of its leader', async (t) => {
  const skip = missing();
  if (skip) { t.skip(skip); return; }
  fs.mkdirSync(SHOTS, { recursive: true });

  const { nodes, leaderID } = await startCluster();
  const leader = nodes.find((n) => n.id === leaderID);
  assert.ok(leader, `leader ${leaderID} is one of ours`);
  // The page is served by a node that survives the leader.
  const serving = nodes.find((n) => n !== leader);
  const { page, consoleErrors } = await openPage();
  // Nothing but the node itself: the page works with no network.
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(serving.url)) foreign.push(r.url()); });

  await page.goto(`${serving.url}/_dashboard`);
  assert.equal(new URL(page.url()).pathname, '/_dashboard/');

  // Three reachable nodes, the leader marked and named.
  await page.waitForFunction((leaderID) => {
    const rows = [...document.querySelectorAll('#nodes tbody tr')];
    const leaders = rows.filter((r) => r.dataset.leader === 'true');
    return rows.length === 3 && rows.every((r) => r.dataset.reachable === 'true') &&
      leaders.length === 1 && leaders[0].dataset.node === leaderID &&
      document.getElementById('leader').textContent === leaderID;
  }, leaderID, { timeout: 20000, polling: 100 });
  const shown = await page.$$eval('#nodes tbody tr', (rows) => rows.map((r) => r.dataset.node).sort());
  assert.deepEqual(shown, nodes.map((n) => n.id).sort());
  assert.equal(await page.textContent('#voters'), '3 / 3');

  // A subscriber on the serving node (a WebSocket from the page), and
  // messages published to its room through the others.
  for (const [m, r] of [['POST', '/dash/_create'], ['PUT', '/dash/c']]) {
    const res = await api(leader, m, r);
    assert.equal(res.error, null, `${m} ${r}: ${JSON.stringify(res.error)}`);
  }
  const sub = await page.evaluate((wsURL) => new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL);
    window.testSocket = ws; // kept open for the rest of the test
    ws.onerror = () => reject(new Error('WebSocket error'));
    ws.onopen = () => ws.send(JSON.stringify({ controller: 'realtime', action: 'subscribe', index: 'dash',
      collection: 'c', body: {}, requestId: 'sub' }));
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.requestId === 'sub') resolve(msg);
    };
  }), serving.url.replace('http', 'ws'));
  assert.equal(sub.error, null, JSON.stringify(sub.error));

  // Requests reach every node: each row's request rate turns positive,
  // and the subscriber's node counts its room and its notifications.
  let load = true;
  const loader = (async () => {
    while (load) {
      await Promise.all(nodes.map((n) => api(n, 'GET', '/_now').catch(() => {})));
      await api(nodes.find((n) => n !== serving), 'POST', '/dash/c/_publish', { n: 1 }).catch(() => {});
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await page.waitForFunction((servingID) => {
      const rows = [...document.querySelectorAll('#nodes tbody tr')];
      const cell = (r, i) => parseFloat(r.cells[i].textContent);
      const mine = rows.find((r) => r.dataset.node === servingID);
      // Columns: 7 rooms, 8 subscriptions, 9 requests/s, 10 notifications/s.
      return rows.length === 3 && rows.every((r) => cell(r, 9) > 0) &&
        mine && cell(mine, 7) === 1 && cell(mine, 8) === 1 && cell(mine, 10) > 0;
    }, serving.id, { timeout: 20000, polling: 200 });
  } finally {
    load = false;
    await loader;
  }
  const before = path.join(SHOTS, 'dashboard-three-nodes.png');
  await page.screenshot({ path: before, fullPage: true });
  console.log(`dashboard screenshot: ${before}`);

  // Kill the leader: the page names a new one among the survivors.
  leader.proc.kill('SIGKILL');
  const survivors = nodes.filter((n) => n !== leader).map((n) => n.id);
  const newLeader = await page.waitForFunction(({ old, survivors }) => {
    const name = document.getElementById('leader').textContent;
    const row = document.querySelector('#nodes tbody tr[data-leader="true"]');
    return survivors.includes(name) && name !== old && row && row.dataset.node === name && name;
  }, { old: leaderID, survivors }, { timeout: 30000, polling: 100 });
  const newID = await newLeader.jsonValue();
  // The dead node is shown unreachable (or already evicted), and the
  // change is in the activity log.
  await page.waitForFunction((old) => {
    const row = document.querySelector(`#nodes tbody tr[data-node="${old}"]`);
    return !row || row.dataset.reachable === 'false';
  }, leaderID, { timeout: 30000, polling: 100 });
  const activity = await page.textContent('#activity');
  assert.match(activity, new RegExp(`leader changed: .*→ ${newID}`));
  const killed = path.join(SHOTS, 'dashboard-leader-killed.png');
  await page.screenshot({ path: killed, fullPage: true });
  console.log(`dashboard screenshot: ${killed}`);

  // Lock security down: the data now needs cluster:status's rights, and
  // the page asks for a login, then shows the cluster again.
  const admin = await api(serving, 'POST', '/_createFirstAdmin/dash-admin?reset=true', {
    content: {}, credentials: { local: { username: 'dash-admin', password: 'dash-password' } } });
  assert.equal(admin.error, null, JSON.stringify(admin.error));
  await page.waitForSelector('#login', { state: 'visible', timeout: 20000 });
  assert.equal(await page.getAttribute('#conn', 'data-state'), 'bad');
  const prompt = path.join(SHOTS, 'dashboard-login.png');
  await page.screenshot({ path: prompt, fullPage: true });
  console.log(`dashboard screenshot: ${prompt}`);
  await page.fill('#login-user', 'dash-admin');
  await page.fill('#login-pass', 'wrong');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent !== '', null, { timeout: 10000 });
  assert.match(await page.textContent('#login-error'), /wrong username or password/);
  assert.equal(await page.isVisible('#login'), true);
  // Korum allows one login attempt per user and second: the page says so
  // and the user tries again, as a person would.
  await eventually(async () => {
    await page.fill('#login-pass', 'dash-password');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login').hidden ||
      document.getElementById('login-error').textContent !== '', null, { timeout: 10000 });
    const err = await page.textContent('#login-error');
    if (err && !/Too many login attempts/.test(err)) throw new Error(`login refused: ${err}`);
    return page.isHidden('#login');
  }, { timeout: 20000, interval: 250, what: 'the login to succeed' });
  await page.waitForFunction((id) => document.getElementById('leader').textContent === id &&
    document.getElementById('conn').dataset.state === 'ok', newID, { timeout: 20000, polling: 100 });
  assert.equal(await page.isVisible('#logout'), true);

  assert.deepEqual(consoleErrors, [], 'no script errors on the page');
  assert.deepEqual(foreign, [], 'the page fetches nothing from elsewhere');
});

test('the dashboard fails over to another node when the one serving it stops', async (t) => {
  const skip = missing();
  if (skip) { t.skip(skip); return; }
  fs.mkdirSync(SHOTS, { recursive: true });

  const { nodes, leaderID } = await startCluster();
  // The page is served by a follower: killing it leaves a quorum.
  const serving = nodes.find((n) => n.id !== leaderID);
  const { page, consoleErrors } = await openPage();
  // Nothing but the cluster's own nodes.
  const foreign = [];
  page.on('request', (r) => { if (!nodes.some((n) => r.url().startsWith(n.url))) foreign.push(r.url()); });
  await page.goto(`${serving.url}/_dashboard`);
  await page.waitForFunction((id) => {
    const rows = [...document.querySelectorAll('#nodes tbody tr')];
    return rows.length === 3 && rows.every((r) => r.dataset.reachable === 'true') &&
      document.getElementById('serving-node').textContent === id &&
      document.getElementById('conn').dataset.state === 'ok';
  }, serving.id, { timeout: 20000, polling: 100 });

  // Kill the node serving the page: the page polls a survivor instead,
  // says so, and shows the dead node unreachable and the leader still
  // leading.
  serving.proc.kill('SIGKILL');
  const survivors = nodes.filter((n) => n !== serving).map((n) => n.id);
  const via = await page.waitForFunction(({ dead, survivors }) => {
    const by = document.getElementById('serving-node').textContent;
    const row = document.querySelector(`#nodes tbody tr[data-node="${dead}"]`);
    return document.getElementById('conn').dataset.state === 'failover' && survivors.includes(by) &&
      (!row || row.dataset.reachable === 'false') && by;
  }, { dead: serving.id, survivors }, { timeout: 30000, polling: 100 });
  const viaID = await via.jsonValue();
  const viaURL = nodes.find((n) => n.id === viaID).url;
  assert.equal(await page.textContent('#conn'), `failed over to ${viaID}`);
  assert.equal(await page.textContent('#banner'), `${serving.id} does not answer: this is ${viaID}'s view (${viaURL}). `);
  assert.equal(await page.isVisible('#banner'), true);
  assert.match(await page.textContent('#activity'), new RegExp(`${serving.id} does not answer \\(.+\\): polling ${viaID} instead`));
  assert.equal(await page.textContent('#leader'), leaderID);
  // It goes on polling there: the figures keep being updated.
  const updated = await page.textContent('#updated');
  await page.waitForFunction((before) => document.getElementById('updated').textContent !== before &&
    document.getElementById('conn').dataset.state === 'failover', updated, { timeout: 10000, polling: 100 });
  const shot = path.join(SHOTS, 'dashboard-failover.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`dashboard screenshot: ${shot}`);

  // The node comes back (same data, same addresses): the page goes back
  // to it.
  const back = spawnLogged(BIN, serving.args, serving.name);
  await page.waitForFunction((id) => document.getElementById('serving-node').textContent === id &&
    document.getElementById('conn').dataset.state === 'ok' && document.getElementById('banner').hidden,
  serving.id, { timeout: 60000, polling: 100 }).catch((e) => {
    throw new Error(`${e.message}; restarted node: ${back.exited !== null ? `exited ${back.exited}` : 'running'} ${back.logs.join('')}`);
  });
  assert.match(await page.textContent('#activity'), new RegExp(`${serving.id} answers again: polling it again`));
  const activity = await page.$$eval('#activity li', (lis) => lis.map((li) => li.textContent));
  assert.equal(activity.filter((a) => new RegExp(`leader is ${leaderID} \\(term`).test(a)).length, 1,
    `each leader change once, whichever node reported it: ${activity.join(' | ')}`);

  assert.deepEqual(consoleErrors, [], 'no script errors on the page');
  assert.deepEqual(foreign, [], 'the page fetches nothing but the cluster\'s nodes');
});
