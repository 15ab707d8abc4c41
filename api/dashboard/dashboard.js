'use strict';
// Korum's live cluster dashboard. It polls data (GET /_dashboard/data, the
// node's cluster:status plus every node's own counters) every POLL_MS,
// turns successive counters into rates, and keeps a log of what changed:
// the cluster's own activity (joins, evictions), the leader changes the
// serving node saw, and what the page saw between samples (nodes going
// unreachable or coming back, appearing or leaving). Everything is
// built with textContent: node ids and messages are never parsed as HTML.
//
// When the node serving the page stops answering, the page polls another
// member of the cluster instead (their API addresses come with each
// sample), says so, keeps probing the serving node and goes back to it
// once it answers again.
(function () {
  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 5000;
  // A candidate for failing over, or the serving node while the page polls
  // another, gets this long to answer; the serving node is probed this
  // often while the page polls another.
  const PROBE_TIMEOUT_MS = 1500;
  const ORIGIN_PROBE_MS = 5000;
  const MAX_EVENTS = 100;
  const TOKEN_KEY = 'korum.dashboard.jwt';

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    prev: new Map(), // node id → last sample {time, requests, notifications}
    rates: new Map(), // node id → {rps, nps}
    reachable: new Map(), // node id → last known reachability
    leader: undefined, // undefined: no sample yet; '': no leader
    seenActivity: new Set(),
    events: [], // {time, text, kind}
    timer: null,
    // Where the data comes from: null for the node serving the page,
    // else {id, url} of the member polled instead.
    source: null,
    origin: '', // the serving node's id, once it answered
    peers: new Map(), // member id → its API's base URL, from the last sample
    originProbe: 0, // when the serving node was last probed
  };
  const dataURL = (src) => (src ? src.url + '/_dashboard/data' : 'data');
  const apiURL = (route) => (state.source ? state.source.url + '/' + route : '../' + route);
  const sourceName = (src) => (src ? src.id : state.origin || 'the node serving this page');

  // ---- formatting ----
  const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');
  const fmtRate = (r) => (typeof r === 'number' ? (r >= 100 ? r.toFixed(0) : r.toFixed(1)) : '—');
  function fmtAge(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '—';
    if (ms < 0) ms = 0;
    if (ms < 1000) return ms.toFixed(0) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.floor(s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }
  const fmtClock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  // ---- connection state ----
  function setConn(kind, text) {
    // Anything but a fresh sample leaves the figures on screen greyed out.
    document.body.classList.toggle('stale', kind === 'bad');
    const c = $('conn');
    c.className = 'pill pill-' + kind;
    c.dataset.state = kind;
    c.textContent = text;
  }
  function banner(text) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  // ---- activity log ----
  function addEvent(time, text, kind) {
    state.events.push({ time, text, kind: kind || '' });
    state.events.sort((a, b) => a.time - b.time);
    if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  }
  function renderEvents() {
    const ol = $('activity');
    ol.replaceChildren();
    for (let i = state.events.length - 1; i >= 0; i--) {
      const ev = state.events[i];
      const li = el('li', null, ev.kind ? 'kind-' + ev.kind : '');
      const t = el('time', fmtClock(ev.time));
      t.dateTime = new Date(ev.time).toISOString();
      li.append(t, document.createTextNode(ev.text));
      ol.append(li);
    }
    if (!state.events.length) ol.append(el('li', 'nothing yet', 'muted'));
  }

  // ---- a sample ----
  function render(data) {
    const now = data.time;
    const cluster = data.cluster || null;
    const stats = new Map((data.nodes || []).map((n) => [n.id, n]));
    const first = state.leader === undefined;

    // The cluster's replicated activity (joins, evictions), once each.
    for (const a of (cluster && cluster.activity) || []) {
      const key = a.id + '|' + a.event + '|' + a.date;
      if (state.seenActivity.has(key)) continue;
      state.seenActivity.add(key);
      const kind = a.event === 'evicted' ? 'down' : 'up';
      addEvent(Date.parse(a.date), `${a.id} ${a.event}${a.reason ? ' (' + a.reason + ')' : ''}`, kind);
    }

    // Leader changes, as the serving node's Raft saw them (kept since its
    // start, so they include those from before the page was opened).
    const changes = data.leaderChanges || [];
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i];
      // A term has one leader: once failed over, the new source's
      // history must not repeat the changes the first one reported.
      const key = c.leader ? `leader|${c.leader}|${c.term}` : `${data.node}|${c.date}||${c.term}`;
      if (state.seenActivity.has(key)) continue;
      state.seenActivity.add(key);
      let prev = '';
      for (let j = i - 1; j >= 0 && !prev; j--) prev = changes[j].leader;
      const t = Date.parse(c.date);
      if (!c.leader) addEvent(t, `${data.node} lost its leader (term ${c.term})`, 'down');
      else if (prev === c.leader) addEvent(t, `leader is ${c.leader} again (term ${c.term})`, 'leader');
      else if (prev) addEvent(t, `leader changed: ${prev} → ${c.leader} (term ${c.term})`, 'leader');
      else addEvent(t, `leader is ${c.leader} (term ${c.term})`, 'leader');
    }
    const leader = cluster ? cluster.leader || '' : '';
    state.leader = leader;

    // The members' API addresses, to fail over to. An address without a
    // host (a node listening on every interface that could not tell
    // which one is its own) is no use from here.
    if (!state.source) state.origin = data.node;
    const peers = new Map();
    const addPeer = (id, addr) => {
      if (id && addr && !/^(:|0\.0\.0\.0:|\[::\]:)/.test(addr)) peers.set(id, `${location.protocol}//${addr}`);
    };
    for (const s of data.nodes || []) addPeer(s.id, s.apiAddress);
    for (const n of (cluster && cluster.nodes) || []) addPeer(n.id, n.apiAddress);
    state.peers = peers;

    // Header and summary.
    $('serving-node').textContent = data.node || '?';
    $('updated').textContent = fmtClock(now);
    $('cluster-id').textContent = cluster && cluster.clusterId ? cluster.clusterId : '';
    $('leader').textContent = cluster ? leader || 'none' : 'none (election?)';
    $('term').textContent = cluster ? fmtInt(cluster.term) : '—';
    $('commit').textContent = cluster ? fmtInt(cluster.commitIndex) : '—';
    $('voters').textContent = cluster ? `${cluster.voters} / ${cluster.votersWanted}` : '—';
    const via = state.source
      ? `${state.origin || 'The node serving this page'} does not answer: this is ${data.node}'s view (${state.source.url}). `
      : '';
    if (cluster) {
      if (state.source) setConn('failover', `failed over to ${data.node}`);
      else setConn('ok', 'live');
      banner(via);
    } else {
      setConn('wait', 'no leader');
      const e = data.clusterError || {};
      banner(`${via}The cluster has no leader right now (${e.id || 'unknown'}: ${e.message || ''}). Node figures below are each node's own.`);
    }

    // Rows: the leader's configuration, and any node only the counters know.
    const rows = new Map();
    for (const n of (cluster && cluster.nodes) || []) rows.set(n.id, { status: n, stats: stats.get(n.id) });
    for (const [id, s] of stats) if (!rows.has(id)) rows.set(id, { status: null, stats: s });
    $('node-count').textContent = String(rows.size);

    let totalR = 0, totalN = 0, haveRates = false;
    for (const [id, r] of rows) {
      const s = r.stats;
      const up = !!(s && s.reachable);
      if (state.reachable.has(id)) {
        if (state.reachable.get(id) !== up) {
          addEvent(now, up ? `${id} is reachable again` : `${id} is unreachable${s && s.error ? ': ' + s.error : ''}`, up ? 'up' : 'down');
        }
      } else if (!first) {
        addEvent(now, `${id} appeared`, 'up');
      }
      state.reachable.set(id, up);
      if (up) {
        const p = state.prev.get(id);
        let rate = null;
        if (p && s.time > p.time && s.requests >= p.requests && s.notifications >= p.notifications) {
          const dt = (s.time - p.time) / 1000;
          rate = { rps: (s.requests - p.requests) / dt, nps: (s.notifications - p.notifications) / dt };
        }
        state.prev.set(id, { time: s.time, requests: s.requests, notifications: s.notifications });
        if (rate) state.rates.set(id, rate);
        else state.rates.delete(id);
      } else {
        state.rates.delete(id);
      }
      const rate = state.rates.get(id);
      if (rate) { totalR += rate.rps; totalN += rate.nps; haveRates = true; }
    }
    for (const id of [...state.reachable.keys()]) {
      if (!rows.has(id)) {
        addEvent(now, `${id} left the configuration`, 'down');
        state.reachable.delete(id);
        state.prev.delete(id);
        state.rates.delete(id);
      }
    }
    $('total-rps').textContent = haveRates ? fmtRate(totalR) : '—';
    $('total-nps').textContent = haveRates ? fmtRate(totalN) : '—';

    const order = [...rows.entries()].sort(([a, ra], [b, rb]) => {
      const la = ra.status && ra.status.leader ? 0 : 1, lb = rb.status && rb.status.leader ? 0 : 1;
      return la - lb || (a < b ? -1 : a > b ? 1 : 0);
    });
    const tbody = $('nodes').tBodies[0];
    tbody.replaceChildren();
    for (const [id, r] of order) tbody.append(nodeRow(id, r, now, state.rates.get(id)));
    renderEvents();
  }

  function nodeRow(id, r, now, rate) {
    const st = r.status, s = r.stats;
    const up = !!(s && s.reachable);
    const tr = el('tr');
    tr.dataset.node = id;
    tr.dataset.leader = st && st.leader ? 'true' : 'false';
    tr.dataset.reachable = up ? 'true' : 'false';
    const name = el('td', id);
    if (st && st.leader) name.append(el('span', 'leader', 'badge'));
    if (s && s.error) name.title = s.error;
    const num = (v) => el('td', v, 'num');
    const lag = num(st ? fmtInt(st.lag) : '—');
    if (st && st.lag > 100) lag.classList.add('lag-bad');
    let contact = '—';
    if (st && st.leader) contact = 'leader';
    else if (st && st.lastContact) contact = fmtAge(now - Date.parse(st.lastContact)) + ' ago';
    tr.append(
      name,
      el('td', st ? st.role : '—'),
      el('td', (st && st.apiAddress) || (s && s.apiAddress) || '—'),
      num(st ? fmtInt(st.appliedIndex) : '—'),
      lag,
      num(contact),
      num(up ? fmtInt(s.connections) : '—'),
      num(up ? fmtInt(s.rooms) : '—'),
      num(up ? fmtInt(s.subscriptions) : '—'),
      num(rate ? fmtRate(rate.rps) : '—'),
      num(rate ? fmtRate(rate.nps) : '—'),
      num(up && s.started ? fmtAge(s.time - s.started) : '—'),
      el('td', up ? 'up' : 'unreachable', up ? 'state-up' : 'state-down'),
    );
    return tr;
  }

  // ---- polling and signing in ----
  async function fetchJSON(url, opts, timeout) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), timeout || FETCH_TIMEOUT_MS);
    try {
      const res = await fetch(url, Object.assign({ cache: 'no-store', signal: ctl.signal }, opts));
      let body = null;
      try { body = await res.json(); } catch (_) { /* not JSON */ }
      return { status: res.status, body };
    } finally {
      clearTimeout(t);
    }
  }

  function showLogin(reason) {
    $('login').hidden = false;
    $('login-reason').textContent = reason
      ? `${reason} The dashboard needs the rights of cluster:status.`
      : "This node's security asks for the rights of cluster:status.";
    setConn('bad', 'sign-in needed');
  }

  // fetchData polls src (null: the serving node). A node that does not
  // answer, answers no JSON (a proxy's error page) or is shutting down
  // gives {error}; any other answer, 401 and 403 included, is the node's.
  async function fetchData(src, timeout) {
    const headers = {};
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    try {
      const res = await fetchJSON(dataURL(src), { headers }, timeout);
      if (!res.body) return { error: `it answered ${res.status} without JSON` };
      if (res.body.error && res.body.error.id === 'api.process.shutting_down') return { error: 'it is shutting down' };
      return res;
    } catch (e) {
      return { error: e.name === 'AbortError' ? 'timed out' : e.message };
    }
  }

  // failover looks for a member that answers, the serving node first when
  // the page was polling another one; it returns {src, res} or null.
  async function failover(failed) {
    const candidates = [];
    if (state.source) candidates.push(null);
    const ids = [...state.peers.keys()].filter((id) => id !== failed && id !== state.origin);
    // Those the last sample saw up first.
    ids.sort((a, b) => (state.reachable.get(b) === true) - (state.reachable.get(a) === true));
    for (const id of ids) candidates.push({ id, url: state.peers.get(id) });
    for (const src of candidates) {
      const res = await fetchData(src, PROBE_TIMEOUT_MS);
      if (!res.error) return { src, res };
    }
    return null;
  }

  function switchTo(src, why) {
    const from = sourceName(state.source);
    state.source = src;
    if (src) addEvent(Date.now(), `${from} does not answer (${why}): polling ${src.id} instead`, 'down');
    else addEvent(Date.now(), `${state.origin || 'the node serving this page'} answers again: polling it again`, 'up');
  }

  async function poll() {
    clearTimeout(state.timer);
    let res = await fetchData(state.source);
    if (res.error) {
      const failed = state.source ? state.source.id : state.origin;
      const next = await failover(failed);
      if (next) {
        switchTo(next.src, res.error);
        res = next.res;
      }
    } else if (state.source && Date.now() - state.originProbe > ORIGIN_PROBE_MS) {
      state.originProbe = Date.now();
      const back = await fetchData(null, PROBE_TIMEOUT_MS);
      if (!back.error) {
        switchTo(null);
        res = back;
      }
    }
    const { status, body } = res;
    if (res.error) {
      setConn('bad', 'node unreachable');
      banner(`Cannot reach ${sourceName(state.source)} (${res.error}), nor any other member of the cluster.`);
      renderEvents();
    } else if (status === 401 || status === 403) {
      showLogin(body && body.error ? body.error.message : '');
      $('logout').hidden = !state.token;
    } else if (body.error || status !== 200) {
      setConn('bad', 'error');
      banner(`${sourceName(state.source)} answered ${status}: ${body.error ? body.error.message : ''}`);
    } else {
      $('login').hidden = true;
      $('logout').hidden = !state.token;
      render(body.result);
    }
    state.timer = setTimeout(poll, POLL_MS);
  }

  function useToken(token) {
    state.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('login-error').textContent = '';
    poll();
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    try {
      const { body } = await fetchJSON(apiURL('_login/local'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: $('login-user').value, password: $('login-pass').value }),
      });
      if (body && body.result && body.result.jwt) {
        $('login-pass').value = '';
        useToken(body.result.jwt);
      } else {
        $('login-error').textContent = (body && body.error && body.error.message) || 'Login failed.';
      }
    } catch (e) {
      $('login-error').textContent = 'Login failed: ' + e.message;
    }
  });
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    $('token-input').value = '';
    if (t) useToken(t);
  });
  $('logout').addEventListener('click', () => {
    const t = state.token;
    useToken('');
    if (t) fetchJSON(apiURL('_logout'), { method: 'POST', headers: { Authorization: 'Bearer ' + t } }).catch(() => {});
  });

  renderEvents();
  poll();
})();
