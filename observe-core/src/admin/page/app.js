// The /observe page: reads the admin JSON API v1 and draws it. Plain JS and SVG, no
// framework, no build step. It computes nothing the server can compute: it lays out,
// formats and asks. Every view updates in place (rows are kept by key and redrawn
// only when their data changed), so auto-refresh does not flicker or steal focus.
'use strict';
(function () {
  // The API beside this script, wherever the admin routes are mounted: the script is
  // `<mount>/observe/assets/app.js`, so the API is `<mount>/observe/api/v1` (a router
  // nested under `/admin` serves both under `/admin`).
  const API = new URL('../api/v1', document.currentScript.src).pathname;
  const SVGNS = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers ---------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    setAttrs(node, attrs);
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.setAttribute('class', v);
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function setText(node, text) {
    text = String(text);
    if (node.textContent !== text) node.textContent = text;
  }
  // Keeps `parent`'s children in the order of `items`, one node per key; a node is
  // redrawn (by `render`) only when its item's signature changed.
  function syncNodes(parent, items, key, render, extraSig) {
    const old = new Map();
    for (const child of Array.from(parent.children)) old.set(child.dataset.key, child);
    let prev = null;
    for (const item of items) {
      const k = String(key(item));
      const sig = JSON.stringify(item) + (extraSig ? extraSig(item) : '');
      let node = old.get(k);
      old.delete(k);
      if (!node || node.dataset.sig !== sig) {
        const fresh = render(item);
        fresh.dataset.key = k;
        fresh.dataset.sig = sig;
        if (node) node.replaceWith(fresh);
        node = fresh;
      }
      const want = prev ? prev.nextElementSibling : parent.firstElementChild;
      if (want !== node) parent.insertBefore(node, want);
      prev = node;
    }
    for (const node of old.values()) node.remove();
  }

  // ---- formatting ----------------------------------------------------------------
  // A percentile as people write it: 30, 99.9, 99.999 (not 30.000000000000004).
  function fmtPercentile(p) {
    return String(Number(p.toPrecision(10)));
  }
  function fmtDur(s) {
    if (s === null || s === undefined || typeof s !== 'number' || !isFinite(s)) return '—';
    const a = Math.abs(s);
    if (a === 0) return '0';
    if (a < 1e-6) return sig3(s * 1e9) + ' ns';
    if (a < 1e-3) return sig3(s * 1e6) + ' µs';
    if (a < 1) return sig3(s * 1e3) + ' ms';
    return sig3(s) + ' s';
  }
  function sig3(x) {
    const a = Math.abs(x);
    return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
  }
  function fmtCount(n) {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '—';
  }
  function plural(n, word) {
    return fmtCount(n) + ' ' + word + (n === 1 ? '' : 's');
  }
  function fmtPct(x, digits) {
    return typeof x === 'number' && isFinite(x) ? (x * 100).toFixed(digits === undefined ? 1 : digits) + ' %' : '—';
  }
  function fmtWindow(s) {
    if (typeof s !== 'number') return '';
    if (s % 86400 === 0) return s / 86400 + ' d';
    if (s % 3600 === 0) return s / 3600 + ' h';
    if (s % 60 === 0) return s / 60 + ' min';
    return s + ' s';
  }
  // `*_unix_nano` values are strings (u64 beyond 2^53); BigInt keeps them exact.
  function nanos(v) {
    try {
      return v === null || v === undefined ? null : BigInt(String(v));
    } catch (_) {
      return null;
    }
  }
  function fmtTime(v) {
    const n = nanos(v);
    if (n === null) return '—';
    const d = new Date(Number(n / 1000000n));
    return isNaN(d) ? '—' : d.toISOString().slice(11, 23);
  }
  function isoTime(v) {
    const n = nanos(v);
    if (n === null) return '';
    const d = new Date(Number(n / 1000000n));
    return isNaN(d) ? '' : d.toISOString();
  }
  function shortId(id) {
    return typeof id === 'string' ? id.slice(0, 8) + '…' : '—';
  }
  function traceLink(traceId, label) {
    return el('a', { href: '#trace/' + encodeURIComponent(traceId), class: 'trace-link', 'aria-label': 'open trace ' + traceId }, label || shortId(traceId));
  }
  // Only http(s) runbook links become links (never `javascript:`).
  function safeUrl(u) {
    return typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null;
  }

  // ---- the API -------------------------------------------------------------------
  // Never throws: answers {ok, data} or {ok: false, status, error, absent}.
  // An endpoint found absent (404 on a fixed path: a feature the service was built
  // without) is asked again once a minute, not at every refresh.
  const absent = new Map();
  async function api(path, init) {
    const url = API + path;
    const fixed = path.split('?')[0];
    const get = !init || !init.method || init.method === 'GET';
    const known = get ? absent.get(fixed) : null;
    if (known && known.until > Date.now()) return known.res;
    const res = await request(url, init);
    if (get && res.absent && !fixed.startsWith('/traces/')) absent.set(fixed, { until: Date.now() + 60000, res });
    else if (known) absent.delete(fixed);
    return res;
  }
  async function request(url, init) {
    let response;
    try {
      response = await fetch(url, Object.assign({ cache: 'no-store', headers: { accept: 'application/json' } }, init));
    } catch (e) {
      return { ok: false, status: 0, path: url, error: 'the service did not answer (' + e.message + ')' };
    }
    let text = '';
    try {
      text = await response.text();
    } catch (e) {
      return { ok: false, status: response.status, path: url, error: 'the answer was cut (' + e.message + ')' };
    }
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const error = body && typeof body.error === 'string' ? body.error : text.slice(0, 300) || response.statusText;
      return { ok: false, status: response.status, path: url, error, data: body, absent: response.status === 404 || response.status === 405 };
    }
    if (body === null || typeof body !== 'object') {
      return { ok: false, status: response.status, path: url, error: 'the answer is not JSON' };
    }
    return { ok: true, status: response.status, path: url, data: body };
  }
  function post(path, body) {
    return api(path, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
  function qs(params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') p.append(k, v);
    return p.toString();
  }
  // Shows why `res` failed in the message element `id` (cleared on success).
  function report(id, res, what) {
    const node = $(id);
    if (res.ok) {
      setText(node, '');
      node.classList.remove('error');
      return;
    }
    const how = res.absent
      ? what + ' is not available on this service: ' + res.path + ' answered ' + res.status + (res.error ? ' (' + res.error + ')' : '') + '.'
      : what + ' could not be read: ' + (res.status ? res.path + ' answered ' + res.status + ': ' : '') + res.error;
    setText(node, how);
    node.classList.toggle('error', !res.absent);
  }
  // A bug in the page: shown where it happened and logged (the browser test fails on it).
  function failed(id, what, e) {
    const node = $(id);
    setText(node, 'The page could not draw ' + what + ': ' + (e && e.message ? e.message : e));
    node.classList.add('error');
    console.error(e);
  }

  // ---- state and navigation ------------------------------------------------------
  const views = ['latency', 'slo', 'deps', 'traces', 'controls'];
  const state = {
    view: 'latency',
    window: 'rolling',
    filter: '',
    seriesA: null,
    seriesB: null,
    rows: new Map(),
    list: 'recent',
    search: {},
    traceId: null,
    trace: null,
    span: null,
  };

  function show(view) {
    if (!views.includes(view)) view = 'latency';
    state.view = view;
    for (const v of views) {
      const tab = $('tab-' + v);
      const on = v === view;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      $('view-' + v).hidden = !on;
    }
  }
  function route() {
    const h = decodeURIComponent(location.hash.replace(/^#/, ''));
    if (h.startsWith('trace/')) {
      show('traces');
      openTrace(h.slice(6));
    } else {
      show(h || 'latency');
    }
    refreshNow();
  }

  // ---- header: service identity and health ---------------------------------------
  async function refreshHeader() {
    const [svc, health] = await Promise.all([api('/service'), api('/health')]);
    if (svc.ok && svc.data.service) {
      const s = svc.data.service;
      setText($('svc-name'), s.name || 'observe');
      document.title = (s.name || 'service') + ' · observe';
      const parts = [s.version && s.version !== 'unknown' && 'v' + s.version, s.instance, s.environment, s.team && 'team ' + s.team, s.owner && 'owner ' + s.owner, typeof svc.data.uptime_s === 'number' && 'up ' + fmtUptime(svc.data.uptime_s)].filter(Boolean);
      const meta = $('svc-meta');
      const runbook = safeUrl(s.runbook);
      const sig = parts.join(' · ') + (runbook || '');
      if (meta.dataset.sig !== sig) {
        meta.replaceChildren(parts.join(' · '), runbook ? ' · ' : '', runbook ? el('a', { href: runbook, rel: 'noopener' }, 'runbook') : '');
        meta.dataset.sig = sig;
      }
      state.service = svc.data;
    } else if (!svc.ok) {
      setText($('svc-meta'), 'service details unavailable (' + (svc.status || 'no answer') + ')');
    }
    const h = $('svc-health');
    // A 503 carries the same body: the service is down and the page says why.
    const data = health.data && typeof health.data.status === 'string' ? health.data : null;
    if (data) {
      const downs = Array.isArray(data.checks) ? data.checks.filter((c) => c.status !== 'up').map((c) => c.name + (c.detail ? ': ' + c.detail : '')) : [];
      const sig = data.status + downs.join(';');
      if (h.dataset.sig !== sig) {
        h.replaceChildren('health ', el('span', { class: data.status === 'up' ? 'up' : 'down' }, data.status), downs.length ? ' (' + downs.join('; ') + ')' : '');
        h.dataset.sig = sig;
      }
    } else {
      setText(h, health.absent ? 'health not available' : 'health unreadable');
      h.dataset.sig = '';
    }
  }
  function fmtUptime(s) {
    if (s < 120) return Math.floor(s) + ' s';
    if (s < 7200) return Math.floor(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }

  // ---- latency -------------------------------------------------------------------
  function seriesId(row) {
    return JSON.stringify([row.metric, row.key, row.request_type || 'standard']);
  }
  function seriesLabel(row) {
    return row.key + (row.request_type && row.request_type !== 'standard' ? ' [' + row.request_type + ']' : '');
  }
  const LAT_COLS = ['count', 'errors', 'p50_s', 'p90_s', 'p99_s', 'p999_s', 'p9999_s', 'p99999_s', 'max_s'];

  async function refreshLatency() {
    const res = await api('/latency?' + qs({ window: state.window }));
    report('lat-msg', res, 'The latency table');
    if (!res.ok) return;
    const rows = Array.isArray(res.data.rows) ? res.data.rows : [];
    setText($('lat-window-s'), state.window === 'rolling' && res.data.window_s ? '(' + fmtWindow(res.data.window_s) + ')' : '');
    state.rows = new Map(rows.map((r) => [seriesId(r), r]));
    if (!state.seriesA || !state.rows.has(state.seriesA)) {
      const first = rows.find((r) => r.kind === 'http.server' && r.count > 0) || rows.find((r) => r.count > 0) || rows[0];
      state.seriesA = first ? seriesId(first) : null;
    }
    const f = state.filter.toLowerCase();
    const shown = f ? rows.filter((r) => (r.key + ' ' + r.kind + ' ' + r.metric).toLowerCase().includes(f)) : rows;
    const tbody = $('lat-table').tBodies[0];
    const old = new Map();
    for (const tr of Array.from(tbody.rows)) old.set(tr.dataset.key, tr);
    let prev = null;
    for (const row of shown) {
      const k = seriesId(row);
      let tr = old.get(k);
      old.delete(k);
      if (!tr) tr = latencyRow(row, k);
      updateLatencyRow(tr, row, k);
      const want = prev ? prev.nextElementSibling : tbody.firstElementChild;
      if (want !== tr) tbody.insertBefore(tr, want);
      prev = tr;
    }
    for (const tr of old.values()) tr.remove();
    if (!rows.length) setText($('lat-msg'), 'No latency recorded yet: send the service a request.');
    await refreshPlot();
  }
  function latencyRow(row, k) {
    const label = seriesLabel(row);
    const a = el('input', { type: 'radio', name: 'series-a', 'aria-label': 'plot ' + label + ' as series A' });
    a.addEventListener('change', () => {
      state.seriesA = k;
      refreshPlot();
    });
    const b = el('input', { type: 'checkbox', class: 'series-b', 'aria-label': 'compare with ' + label + ' as series B' });
    b.addEventListener('change', () => {
      state.seriesB = b.checked ? k : null;
      for (const other of document.querySelectorAll('#lat-table input.series-b')) if (other !== b) other.checked = false;
      refreshPlot();
    });
    const tr = el('tr', { dataset: { key: k } }, el('td', null, a), el('td', null, b), el('td', { class: 'l' }, row.kind), el('td', { class: 'l key' }, row.key), el('td', { class: 'l' }, row.request_type || 'standard'));
    for (const c of LAT_COLS) tr.append(el('td', { class: 'c-' + c }));
    tr.append(el('td', { class: 'l exemplar' }));
    return tr;
  }
  function updateLatencyRow(tr, row, k) {
    const cells = tr.cells;
    cells[0].firstChild.checked = state.seriesA === k;
    cells[1].firstChild.checked = state.seriesB === k;
    tr.classList.toggle('selected', state.seriesA === k || state.seriesB === k);
    LAT_COLS.forEach((c, i) => {
      const td = cells[5 + i];
      setText(td, c === 'count' || c === 'errors' ? fmtCount(row[c]) : fmtDur(row[c]));
      if (c === 'errors') td.classList.toggle('err', row.errors > 0);
    });
    const ex = Array.isArray(row.exemplars) ? row.exemplars : [];
    const worst = ex.reduce((m, e) => (!m || (e.value_s || 0) > (m.value_s || 0) ? e : m), null);
    const td = cells[5 + LAT_COLS.length];
    const sig = worst ? worst.trace_id : '';
    if (td.dataset.sig !== sig) {
      td.replaceChildren(worst ? traceLink(worst.trace_id, fmtDur(worst.value_s)) : '');
      td.dataset.sig = sig;
    }
  }

  let plotSig = '';
  async function refreshPlot() {
    const ids = [state.seriesA, state.seriesB].filter((id, i, all) => id && all.indexOf(id) === i);
    const picked = ids.map((id) => state.rows.get(id)).filter(Boolean);
    const answers = await Promise.all(
      picked.map((r) => api('/latency/distribution?' + qs({ metric: r.metric, key: r.key, request_type: r.request_type || 'standard', window: state.window }))),
    );
    const bad = answers.find((a) => !a.ok);
    report('plot-msg', bad || { ok: true }, 'The percentile distribution');
    const series = [];
    answers.forEach((a, i) => {
      if (a.ok) series.push({ cls: i === 0 ? 'series-a' : 'series-b', label: seriesLabel(picked[i]), count: a.data.count, points: Array.isArray(a.data.points) ? a.data.points : [] });
    });
    const sig = JSON.stringify(series);
    if (sig === plotSig) return;
    plotSig = sig;
    drawPlot(series);
  }
  function drawPlot(series) {
    const legend = $('plot-legend');
    legend.replaceChildren(
      ...series.map((s) => el('span', { class: 'legend-item' }, el('span', { class: 'sw', 'aria-hidden': 'true', dataset: { s: s.cls } }), (s.cls === 'series-a' ? 'A: ' : 'B: ') + s.label + ' (' + plural(s.count, 'value') + ')')),
    );
    for (const sw of legend.querySelectorAll('.sw')) sw.style.background = sw.dataset.s === 'series-a' ? 'var(--a)' : 'var(--b)';
    const plot = $('plot');
    const W = 900, H = 320, L = 70, R = 44, T = 14, B = 36;
    const XMAX = 5; // 99.999 %
    const px = (p) => {
      const x = p >= 100 ? XMAX : Math.min(XMAX, Math.log10(1 / (1 - p / 100)));
      return L + (x / XMAX) * (W - L - R);
    };
    let ymax = 0;
    for (const s of series) for (const pt of s.points) if (typeof pt.value_s === 'number' && isFinite(pt.value_s)) ymax = Math.max(ymax, pt.value_s);
    let ticks, py;
    if ($('plot-logy').checked) {
      // Decades from the smallest positive value to the largest.
      let ymin = ymax;
      for (const s of series) for (const pt of s.points) if (pt.value_s > 0 && pt.value_s < ymin) ymin = pt.value_s;
      const lo = Math.floor(Math.log10(ymin || 1e-6));
      const hi = Math.max(lo + 1, Math.ceil(Math.log10(ymax || 1e-3)));
      ticks = [];
      for (let e = lo; e <= hi; e++) ticks.push(Math.pow(10, e));
      py = (v) => H - B - ((Math.log10(Math.max(v, ticks[0])) - lo) / (hi - lo)) * (H - T - B);
    } else {
      ticks = niceTicks(ymax || 1e-3);
      const top = ticks[ticks.length - 1];
      py = (v) => H - B - (v / top) * (H - T - B);
    }
    const nodes = [];
    for (const t of ticks) {
      nodes.push(svg('line', { class: 'grid', x1: L, x2: W - R, y1: py(t), y2: py(t) }));
      nodes.push(svg('text', { x: L - 6, y: py(t) + 4, 'text-anchor': 'end', class: 'axis-label' }, fmtDur(t)));
    }
    [0, 90, 99, 99.9, 99.99, 99.999].forEach((p) => {
      nodes.push(svg('line', { class: 'grid', x1: px(p), x2: px(p), y1: T, y2: H - B }));
      nodes.push(svg('text', { x: px(p), y: H - B + 16, 'text-anchor': 'middle' }, p + ' %'));
    });
    nodes.push(svg('text', { x: (W + L) / 2, y: H - 4, 'text-anchor': 'middle' }, 'percentile'));
    const axis = svg('g', { class: 'axis' }, nodes);
    const drawn = [axis];
    for (const s of series) {
      const pts = s.points.filter((pt) => typeof pt.percentile === 'number' && typeof pt.value_s === 'number');
      const g = svg('g', { class: 'series ' + s.cls, 'data-series': s.label });
      g.append(svg('polyline', { class: s.cls, points: pts.map((pt) => px(pt.percentile).toFixed(1) + ',' + py(pt.value_s).toFixed(1)).join(' ') }));
      for (const pt of pts) {
        g.append(svg('circle', { class: 'pt ' + s.cls, cx: px(pt.percentile).toFixed(1), cy: py(pt.value_s).toFixed(1), r: 2.5 }, svg('title', null, 'p' + fmtPercentile(pt.percentile) + ': ' + fmtDur(pt.value_s))));
      }
      drawn.push(g);
    }
    if (!series.length || series.every((s) => !s.points.length)) {
      drawn.push(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, series.length ? 'no values in this window' : 'pick a series in the table'));
    }
    plot.replaceChildren(...drawn);
  }
  function niceTicks(max) {
    const raw = max / 5;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const ticks = [];
    for (let t = 0; t <= max + step * 0.999; t += step) ticks.push(t);
    if (ticks.length < 2) ticks.push(step);
    return ticks;
  }

  // ---- SLOs and alerts -----------------------------------------------------------
  async function refreshSlo() {
    const [slos, alerts] = await Promise.all([api('/slos'), api('/alerts')]);
    report('slo-msg', slos, 'The SLO list');
    if (slos.ok) {
      const list = Array.isArray(slos.data.slos) ? slos.data.slos : [];
      syncNodes($('slo-cards'), list, (s) => s.name, sloCard);
      if (!list.length) setText($('slo-msg'), 'No SLO is declared for this service (OBSERVE_SLOS, Builder::slo or [package.metadata.observe] slos; see docs/slo.md).');
    }
    report('alert-msg', alerts, 'The alert list');
    if (alerts.ok) {
      const list = Array.isArray(alerts.data.alerts) ? alerts.data.alerts.slice(0, 50) : [];
      syncNodes($('alert-table').tBodies[0], list, (a) => a.time_unix_nano + '/' + a.slo + '/' + a.severity, alertRow);
      if (!list.length) setText($('alert-msg'), 'No alert has fired.');
    }
  }
  function sloCard(s) {
    const budget = typeof s.budget_remaining === 'number' ? s.budget_remaining : null;
    const meter = el('div', { class: 'meter' + (budget !== null && budget < 0.25 ? ' low' : ''), role: 'meter', 'aria-label': 'error budget left', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': budget === null ? 0 : Math.max(0, Math.round(budget * 100)) }, el('span'));
    meter.firstChild.style.width = Math.max(0, Math.min(1, budget || 0)) * 100 + '%';
    const windows = Array.isArray(s.windows) ? s.windows : [];
    const alerting = Array.isArray(s.alerting) ? s.alerting : [];
    const sel = s.selector || {};
    return el(
      'div',
      { class: 'card slo', 'data-slo': s.name },
      el('h2', null, s.name + ' ', el('span', { class: 'badge status ' + s.status }, s.status || '?')),
      el('p', { class: 'muted' }, (s.kind === 'latency' ? 'latency ≤ ' + fmtDur(s.threshold_s) : s.kind || '') + ', objective ' + fmtPct(s.objective, 3) + ' · ' + (sel.metric || '') + ' ' + (sel.key || '')),
      el('div', null, 'error budget left: ', el('strong', { class: 'budget' }, fmtPct(budget)), meter),
      el(
        'table',
        { class: 'num windows' },
        el('caption', { class: 'l' }, 'burn rate per window'),
        el('thead', null, el('tr', null, el('th', { scope: 'col', class: 'l' }, 'window'), el('th', { scope: 'col' }, 'good'), el('th', { scope: 'col' }, 'total'), el('th', { scope: 'col' }, 'burn rate'))),
        el(
          'tbody',
          null,
          windows.map((w) =>
            el('tr', null, el('td', { class: 'l' }, w.window || fmtWindow(w.window_s)), el('td', null, fmtCount(w.good)), el('td', null, fmtCount(w.total)), el('td', { class: 'burn-rate' + (w.burn_rate > 1 ? ' err' : '') }, typeof w.burn_rate === 'number' ? w.burn_rate.toFixed(2) : '—')),
          ),
        ),
      ),
      alerting.length
        ? el(
            'table',
            { class: 'num rules' },
            el('caption', { class: 'l' }, 'alerting rules'),
            el('thead', null, el('tr', null, el('th', { scope: 'col', class: 'l' }, 'windows'), el('th', { scope: 'col' }, 'burn ≥'), el('th', { scope: 'col' }, 'severity'), el('th', { scope: 'col' }, 'state'))),
            el(
              'tbody',
              null,
              alerting.map((a) => el('tr', null, el('td', { class: 'l' }, a.long + ' & ' + a.short), el('td', null, a.burn_threshold), el('td', null, a.severity), el('td', null, a.firing ? el('span', { class: 'badge firing' }, 'firing') : 'quiet'))),
            ),
          )
        : null,
    );
  }
  function alertRow(a) {
    const rates = a.burn_rates && typeof a.burn_rates === 'object' ? Object.entries(a.burn_rates).map(([w, r]) => w + ' ' + (typeof r === 'number' ? r.toFixed(1) : r)).join(' · ') : '';
    const ex = Array.isArray(a.exemplars) ? a.exemplars : [];
    const d = a.deepest_failure;
    const runbook = safeUrl(a.runbook);
    return el(
      'tr',
      null,
      el('td', { title: isoTime(a.time_unix_nano) }, fmtTime(a.time_unix_nano)),
      el('td', null, a.slo),
      el('td', null, el('span', { class: 'badge ' + (a.severity === 'page' ? 'firing' : '') }, a.severity)),
      el('td', null, rates),
      el('td', { class: 'l' }, ex.map((e, i) => [i ? ' ' : '', traceLink(e.trace_id, (e.kind || 'trace') + ' ' + fmtDur(e.value_s))])),
      el('td', { class: 'l' }, d ? traceLink(d.trace_id, (d.service ? d.service + ': ' : '') + d.name + (d.status_message ? ' (' + d.status_message + ')' : '')) : '—'),
      el('td', { class: 'l' }, [a.owner, a.team].filter(Boolean).join(' / '), runbook ? [' ', el('a', { href: runbook, rel: 'noopener' }, 'runbook')] : ''),
      el('td', { class: 'l' }, a.snapshot ? el('code', null, a.snapshot) : '—'),
    );
  }

  // ---- dependencies --------------------------------------------------------------
  let graphSig = '';
  async function refreshDeps() {
    const res = await api('/dependencies');
    report('deps-msg', res, 'The dependency table');
    if (!res.ok) return;
    const deps = Array.isArray(res.data.dependencies) ? res.data.dependencies : [];
    setText($('deps-caption'), 'callees seen in traces' + (res.data.window_s ? ' over the last ' + fmtWindow(res.data.window_s) : ''));
    syncNodes($('deps-table').tBodies[0], deps, (d) => d.kind + ' ' + d.callee, depRow);
    if (!deps.length) setText($('deps-msg'), 'No outgoing call recorded yet.');
    const failures = Array.isArray(res.data.deepest_failures) ? res.data.deepest_failures : [];
    syncNodes($('deps-failures'), failures, (f) => f.trace_id + f.span_id, (f) => el('li', null, traceLink(f.trace_id, (f.service ? f.service + ': ' : '') + f.name), f.status_message ? ' — ' + f.status_message : ''));
    const graph = res.data.graph || { nodes: [], edges: [] };
    const sig = JSON.stringify(graph);
    if (sig !== graphSig) {
      graphSig = sig;
      drawGraph(graph);
    }
  }
  function depRow(d) {
    const share = typeof d.critical_path_share === 'number' ? d.critical_path_share : null;
    const bar = el('span', { class: 'share', 'aria-hidden': 'true' }, el('span'));
    bar.firstChild.style.width = Math.max(0, Math.min(1, share || 0)) * 100 + '%';
    return el(
      'tr',
      null,
      el('td', { class: 'l key' }, d.callee),
      el('td', null, d.kind),
      el('td', null, fmtCount(d.calls)),
      el('td', { class: d.errors > 0 ? 'err' : '' }, fmtCount(d.errors)),
      el('td', null, fmtDur(d.p50_s)),
      el('td', null, fmtDur(d.p99_s)),
      el('td', null, fmtDur(d.p999_s)),
      el('td', null, fmtDur(d.server_time_s)),
      el('td', null, fmtDur(d.network_s)),
      el('td', { class: 'l' }, bar, fmtPct(share)),
    );
  }
  // Columns by distance from this service (breadth first), callees top to bottom.
  function drawGraph(graph) {
    const nodes = Array.isArray(graph.nodes) ? graph.nodes : [];
    const edges = Array.isArray(graph.edges) ? graph.edges : [];
    const depth = new Map();
    const queue = nodes.filter((n) => n.self).map((n) => n.id);
    for (const id of queue) depth.set(id, 0);
    while (queue.length) {
      const id = queue.shift();
      for (const e of edges) if (e.from === id && !depth.has(e.to)) {
        depth.set(e.to, depth.get(id) + 1);
        queue.push(e.to);
      }
    }
    for (const n of nodes) if (!depth.has(n.id)) depth.set(n.id, 1);
    const columns = [];
    for (const n of nodes) {
      const d = depth.get(n.id);
      (columns[d] = columns[d] || []).push(n);
    }
    const NW = 200, NH = 30, GX = 120, GY = 16;
    const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
    const H = Math.max(80, rows * (NH + GY) + GY);
    const W = Math.max(900, columns.length * (NW + GX));
    const pos = new Map();
    columns.forEach((col, d) => {
      if (!col) return;
      const top = (H - col.length * (NH + GY) + GY) / 2;
      col.forEach((n, i) => pos.set(n.id, { x: 20 + d * (NW + GX), y: top + i * (NH + GY) }));
    });
    const parts = [];
    for (const e of edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2, mx = (x1 + x2) / 2;
      parts.push(svg('path', { class: 'edge' + (e.errors > 0 ? ' failing' : ''), d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }, svg('title', null, e.from + ' → ' + e.to)));
      parts.push(svg('text', { x: mx, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' }, plural(e.calls, 'call') + (e.errors ? ', ' + plural(e.errors, 'error') : '')));
    }
    for (const n of nodes) {
      const p = pos.get(n.id);
      const label = String(n.label || n.id);
      parts.push(
        svg('g', { class: 'node' + (n.self ? ' self' : ''), 'data-node': n.id }, svg('title', null, label), svg('rect', { x: p.x, y: p.y, width: NW, height: NH, rx: 5 }), svg('text', { x: p.x + 10, y: p.y + 19 }, label.length > 28 ? label.slice(0, 27) + '…' : label)),
      );
    }
    const g = $('deps-graph');
    g.setAttribute('viewBox', `0 0 ${W} ${H}`);
    g.replaceChildren(...parts);
  }

  // ---- traces --------------------------------------------------------------------
  async function refreshTraces() {
    const params = state.list === 'search' ? Object.assign({ list: 'recent', limit: 50 }, state.search) : { list: state.list, limit: 50 };
    const res = await api('/traces?' + qs(params));
    report('tr-msg', res, 'The trace list');
    if (!res.ok) return;
    const list = Array.isArray(res.data.traces) ? res.data.traces : [];
    syncNodes($('tr-table').tBodies[0], list, (t) => t.trace_id, traceRow, (t) => (t.trace_id === state.traceId ? '*' : ''));
    if (!list.length) setText($('tr-msg'), state.list === 'search' ? 'No trace in the flight recorder matches.' : 'No trace in this list yet.');
  }
  function traceRow(t) {
    const tr = el(
      'tr',
      { class: t.trace_id === state.traceId ? 'selected' : '' },
      el('td', { class: 'l', title: isoTime(t.start_unix_nano) }, fmtTime(t.start_unix_nano)),
      el('td', { class: 'l trace-name' }, t.name),
      el('td', { class: 'l' }, t.service),
      el('td', { class: 'duration' }, fmtDur(t.duration_s)),
      el('td', { class: 'status-' + t.status }, t.status),
      el('td', null, fmtCount(t.span_count)),
      el('td', { class: t.error_count > 0 ? 'err' : '' }, fmtCount(t.error_count)),
      el('td', { class: 'l' }, traceLink(t.trace_id), t.tracer_bullet ? el('span', { class: 'bullet-mark', title: 'tracer bullet' }, ' ⚑ bullet') : ''),
    );
    tr.addEventListener('click', (ev) => {
      if (ev.target.closest('a')) return;
      location.hash = '#trace/' + t.trace_id;
    });
    return tr;
  }
  async function openTrace(id) {
    if (!/^[0-9a-f]{1,32}$/i.test(id)) {
      $('trace-detail').hidden = false;
      setText($('wf-msg'), 'Not a trace id: ' + id);
      return;
    }
    state.traceId = id.toLowerCase();
    state.span = null;
    $('trace-detail').hidden = false;
    setText($('wf-title'), 'Trace ' + state.traceId);
    const res = await api('/traces/' + encodeURIComponent(state.traceId));
    if (!res.ok && res.status === 404) {
      setText($('wf-msg'), 'Trace ' + state.traceId + ' was not found (the flight recorder keeps the last minutes only): ' + res.error);
      $('wf-msg').classList.remove('error');
      drawWaterfall({ spans: [], logs: [] });
      return;
    }
    report('wf-msg', res, 'The trace');
    if (!res.ok) return;
    state.trace = res.data;
    try {
      drawWaterfall(res.data);
    } catch (e) {
      failed('wf-msg', 'the waterfall', e);
    }
    const row = document.querySelector('#tr-table tr[data-key="' + state.traceId + '"]');
    if (row) row.classList.add('selected');
    $('trace-detail').scrollIntoView({ block: 'nearest' });
  }
  // Depth-first in parent-child order, siblings by start time; a span whose parent is
  // not in the recorder (a remote caller) is a root.
  function spanOrder(spans) {
    const ids = new Set(spans.map((s) => s.span_id));
    const children = new Map();
    const roots = [];
    for (const s of spans) {
      if (s.parent_span_id && ids.has(s.parent_span_id)) {
        if (!children.has(s.parent_span_id)) children.set(s.parent_span_id, []);
        children.get(s.parent_span_id).push(s);
      } else roots.push(s);
    }
    const byStart = (a, b) => {
      const x = nanos(a.start_unix_nano), y = nanos(b.start_unix_nano);
      return x === null || y === null ? 0 : x < y ? -1 : x > y ? 1 : 0;
    };
    const out = [];
    const seen = new Set();
    const walk = (s, depth) => {
      if (seen.has(s.span_id)) return;
      seen.add(s.span_id);
      out.push({ span: s, depth });
      for (const c of (children.get(s.span_id) || []).sort(byStart)) walk(c, depth + 1);
    };
    roots.sort(byStart).forEach((r) => walk(r, 0));
    return out;
  }
  const PALETTE = ['#2459c7', '#1d7f3c', '#8a4fc2', '#b35c00', '#0f7c86', '#a3306c'];
  function drawWaterfall(trace) {
    const spans = Array.isArray(trace.spans) ? trace.spans : [];
    const ordered = spanOrder(spans);
    let t0 = null, t1 = null;
    for (const s of spans) {
      const a = nanos(s.start_unix_nano), b = nanos(s.end_unix_nano);
      if (a !== null && (t0 === null || a < t0)) t0 = a;
      if (b !== null && (t1 === null || b > t1)) t1 = b;
    }
    const total = t0 !== null && t1 !== null && t1 > t0 ? Number(t1 - t0) : 1;
    const services = [];
    for (const s of spans) if (!services.includes(s.service)) services.push(s.service);
    const color = (svc) => PALETTE[services.indexOf(svc) % PALETTE.length];
    const wf = $('waterfall');
    const rows = ordered.map(({ span: s, depth }) => {
      const start = nanos(s.start_unix_nano), end = nanos(s.end_unix_nano);
      const off = start !== null && t0 !== null ? Number(start - t0) : 0;
      const len = start !== null && end !== null ? Number(end - start) : 0;
      const code = s.status && s.status.code ? s.status.code : 'unset';
      const skipped = Array.isArray(s.skipped_side_effects) ? s.skipped_side_effects : [];
      const name = el(
        'div',
        { class: 'wf-name', title: s.service + ' · ' + s.name },
        el('span', { class: 'wf-svc' }, s.service),
        el('span', { class: 'wf-span-name' }, s.name),
        code === 'error' ? el('span', { class: 'status-error' }, ' ✗') : '',
        s.tracer_bullet ? el('span', { class: 'bullet-mark', title: 'tracer bullet' }, ' ⚑') : '',
        skipped.length ? el('span', { class: 'bullet-mark skipped', title: 'side effects skipped: ' + skipped.join(', ') }, ' ⤼ ' + skipped.length + ' skipped') : '',
      );
      name.style.paddingLeft = 6 + depth * 14 + 'px';
      const bar = el('div', { class: 'wf-bar' + (code === 'error' ? ' error' : '') });
      const left = (off / total) * 100;
      bar.style.left = left + '%';
      bar.style.width = Math.max(0.2, (len / total) * 100) + '%';
      if (code !== 'error') bar.style.background = color(s.service);
      const time = el('span', { class: 'wf-time' }, fmtDur(s.duration_s !== undefined ? s.duration_s : len / 1e9));
      const right = left + (len / total) * 100;
      // The duration goes after the bar, else before it, else inside it.
      if (right < 86) time.style.left = right + 0.5 + '%';
      else if (left > 14) time.style.right = 100.5 - left + '%';
      else {
        time.style.left = left + 0.5 + '%';
        time.classList.add('inside');
      }
      const row = el(
        'div',
        { class: 'wf-row', role: 'treeitem', tabindex: 0, 'aria-level': depth + 1, 'aria-label': s.service + ' ' + s.name + ' ' + fmtDur(s.duration_s) + ' ' + code, dataset: { spanId: s.span_id, parentSpanId: s.parent_span_id || '', depth: String(depth) } },
        name,
        el('div', { class: 'wf-track' }, bar, time),
      );
      const pick = () => selectSpan(s.span_id);
      row.addEventListener('click', pick);
      row.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          pick();
        }
      });
      return row;
    });
    wf.replaceChildren(
      el('div', { class: 'legend wf-legend' }, services.map((svc) => {
        const sw = el('span', { class: 'sw', 'aria-hidden': 'true' });
        sw.style.background = color(svc);
        return el('span', null, sw, svc);
      }), ' · total ' + fmtDur(total / 1e9) + ' · ' + spans.length + ' spans'),
      ...rows,
    );
    $('span-detail').replaceChildren();
    const logs = Array.isArray(trace.logs) ? trace.logs : [];
    $('wf-logs').tBodies[0].replaceChildren(
      ...logs.map((l) => {
        const t = nanos(l.time_unix_nano);
        const lvl = String(l.level || '').toUpperCase();
        const fields = l.fields && typeof l.fields === 'object' ? Object.entries(l.fields).map(([k, v]) => k + '=' + (typeof v === 'string' ? v : JSON.stringify(v))).join(' ') : '';
        return el(
          'tr',
          { dataset: { spanId: l.span_id || '' } },
          el('td', { title: isoTime(l.time_unix_nano) }, t !== null && t0 !== null ? '+' + fmtDur(Number(t - t0) / 1e9) : fmtTime(l.time_unix_nano)),
          el('td', { class: lvl === 'ERROR' || lvl === 'WARN' ? 'err' : '' }, lvl),
          el('td', { class: 'l' }, l.message),
          el('td', null, l.span_id ? el('button', { type: 'button', class: 'link', 'aria-label': 'show span ' + l.span_id, onclick: () => selectSpan(l.span_id) }, shortId(l.span_id)) : '—'),
          el('td', { class: 'l' }, fields),
        );
      }),
    );
    if (!logs.length) $('wf-logs').tBodies[0].append(el('tr', null, el('td', { colspan: 5, class: 'muted l' }, 'no log line in this trace')));
  }
  function selectSpan(spanId) {
    const trace = state.trace;
    if (!trace) return;
    const s = (trace.spans || []).find((x) => x.span_id === spanId);
    for (const row of document.querySelectorAll('#waterfall .wf-row')) row.classList.toggle('selected', row.dataset.spanId === spanId);
    for (const row of $('wf-logs').tBodies[0].rows) row.classList.toggle('selected', row.dataset.spanId === spanId);
    if (!s) return;
    state.span = spanId;
    const dl = el('dl');
    const add = (k, v) => dl.append(el('dt', null, k), el('dd', null, v));
    add('span', s.name + ' (' + s.kind + ')');
    add('service', s.service);
    add('span id', s.span_id);
    add('parent', s.parent_span_id || 'none (root)');
    add('start', isoTime(s.start_unix_nano));
    add('duration', fmtDur(s.duration_s));
    add('status', (s.status && s.status.code) + (s.status && s.status.message ? ': ' + s.status.message : ''));
    if (s.tracer_bullet) add('tracer bullet', 'yes: side effects are skipped');
    if (Array.isArray(s.skipped_side_effects) && s.skipped_side_effects.length) add('skipped side effects', s.skipped_side_effects.join(', '));
    for (const [k, v] of Object.entries(s.attributes || {})) add(k, typeof v === 'string' ? v : JSON.stringify(v));
    const events = Array.isArray(s.events) ? s.events : [];
    const box = $('span-detail');
    box.replaceChildren(
      el('h3', null, 'Span ' + s.name),
      dl,
      events.length ? el('h3', null, 'Events') : '',
      events.length ? el('ul', { class: 'plain' }, events.map((e) => el('li', null, fmtTime(e.time_unix_nano) + ' ' + e.name + ' ' + JSON.stringify(e.attributes || {})))) : '',
    );
  }

  // ---- controls ------------------------------------------------------------------
  async function refreshControls() {
    const [samp, log, svc, bullet, lat] = await Promise.all([api('/sampling'), api('/log-level'), api('/service'), api('/bullet'), api('/latency')]);
    // The tracer-bullet button: enabled only when this service's policy would
    // honour the bullet (the reason shown otherwise).
    const fire = $('bullet-fire');
    if (bullet.ok && bullet.data.enabled) {
      fire.disabled = false;
      setText($('bullet-status'), 'Sends a real request to ' + bullet.data.target + ' as a tracer bullet (' + (bullet.data.signed ? 'signed' : 'marked') + '): it is served, and its writes are skipped.');
    } else {
      fire.disabled = true;
      setText($('bullet-status'), 'Disabled: ' + (bullet.ok ? bullet.data.reason : bullet.absent ? 'not available (' + bullet.status + ')' : bullet.error));
    }
    if (lat.ok) {
      const routes = [...new Set((lat.data.rows || []).map((r) => String(r.key || '')).filter((k) => /^[A-Z]+ \//.test(k)))].sort();
      syncNodes($('bullet-routes'), routes, (k) => k, (k) => el('option', { value: k.slice(k.indexOf(' ') + 1) }, k));
    }
    if (samp.ok) {
      setText($('samp-ratio'), typeof samp.data.ratio === 'number' ? String(samp.data.ratio) : '?');
      const overrides = Object.entries(samp.data.overrides || {}).map(([key, ratio]) => ({ key, ratio }));
      syncNodes($('ovr-table').tBodies[0], overrides, (o) => o.key, (o) =>
        el('tr', null, el('td', { class: 'l key' }, o.key), el('td', null, String(o.ratio)), el('td', null, el('button', { type: 'button', 'aria-label': 'clear the override for ' + o.key, onclick: () => control('/sampling', { key: o.key, clear: true }, 'Clear the sampling override for ' + o.key + '?') }, 'clear'))),
      );
    } else setText($('samp-ratio'), samp.absent ? 'not available (' + samp.status + ')' : 'unreadable: ' + samp.error);
    if (log.ok) {
      setText($('log-filter'), log.data.filter || '');
      setText($('log-default'), log.data.default || '');
    } else setText($('log-filter'), log.absent ? 'not available (' + log.status + ')' : 'unreadable: ' + log.error);
    if (svc.ok && svc.data.recorder) {
      const r = svc.data.recorder;
      setText($('rec-info'), 'The flight recorder keeps ' + fmtCount(r.traces) + ' traces, about ' + fmtWindow(Math.round(r.covers_s || 0)) + ' of history, in ' + fmtCount(r.budget_bytes) + ' bytes.');
    }
  }
  function ask(text) {
    const dialog = $('confirm');
    setText($('confirm-text'), text);
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
      $('confirm-cancel').focus();
    });
  }
  function showResult(res, what) {
    const out = $('ctl-result');
    out.classList.toggle('error', !res.ok);
    if (!res.ok) {
      setText(out, what + ' failed: ' + (res.status ? res.status + ' ' : '') + res.error);
      return;
    }
    const d = res.data;
    const lines = [];
    if (d.audit) lines.push('audit: ' + d.audit);
    if ('old' in d || 'new' in d) lines.push('old: ' + JSON.stringify(d.old) + '  new: ' + JSON.stringify(d.new));
    if (d.path) lines.push('wrote ' + fmtCount(d.spans) + ' spans, ' + fmtCount(d.bytes) + ' bytes to ' + d.path);
    setText(out, lines.join('\n') || JSON.stringify(d));
  }
  async function control(path, body, question) {
    if (!(await ask(question))) {
      setText($('ctl-result'), 'cancelled: nothing changed');
      return;
    }
    const res = await post(path, body);
    showResult(res, question.replace(/\?$/, ''));
    await refreshControls();
  }

  // ---- refresh loop --------------------------------------------------------------
  const refreshers = { latency: refreshLatency, slo: refreshSlo, deps: refreshDeps, traces: refreshTraces, controls: refreshControls };
  const messages = { latency: 'lat-msg', slo: 'slo-msg', deps: 'deps-msg', traces: 'tr-msg', controls: 'ctl-result' };
  let busy = false, again = false, timer = null;
  async function refreshNow() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    const view = state.view;
    try {
      await Promise.all([refreshers[view](), refreshHeader()]);
      setText($('last-refresh'), 'updated ' + new Date().toLocaleTimeString());
    } catch (e) {
      failed(messages[view], 'this view', e);
    } finally {
      busy = false;
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    }
    if (again) {
      again = false;
      refreshNow();
    }
  }
  function schedule() {
    clearTimeout(timer);
    if (!$('auto-refresh').checked) return;
    timer = setTimeout(async () => {
      if (document.visibilityState !== 'hidden' && !$('confirm').open) await refreshNow();
      schedule();
    }, Number($('refresh-every').value) || 5000);
  }

  // ---- wiring --------------------------------------------------------------------
  function wire() {
    const tabs = views.map((v) => $('tab-' + v));
    tabs.forEach((tab, i) => {
      tab.addEventListener('click', () => {
        location.hash = '#' + tab.dataset.view;
      });
      tab.addEventListener('keydown', (ev) => {
        const d = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
        if (!d) return;
        const next = tabs[(i + d + tabs.length) % tabs.length];
        next.focus();
        location.hash = '#' + next.dataset.view;
      });
    });
    window.addEventListener('hashchange', route);
    $('auto-refresh').addEventListener('change', schedule);
    $('refresh-every').addEventListener('change', schedule);
    for (const r of document.querySelectorAll('input[name="lat-window"]')) r.addEventListener('change', () => {
      state.window = r.value;
      plotSig = '';
      refreshNow();
    });
    $('plot-logy').addEventListener('change', () => {
      plotSig = '';
      refreshPlot();
    });
    $('lat-filter').addEventListener('input', (ev) => {
      state.filter = ev.target.value;
      refreshNow();
    });
    for (const r of document.querySelectorAll('input[name="tr-list"]')) r.addEventListener('change', () => {
      state.list = r.value;
      refreshNow();
    });
    $('tr-search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      state.search = {};
      for (const [k, v] of f.entries()) if (String(v).trim()) state.search[k] = String(v).trim();
      state.list = 'search';
      document.querySelector('input[name="tr-list"][value="search"]').checked = true;
      refreshNow();
    });
    $('samp-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const ratio = Number($('samp-input').value);
      if (!(ratio >= 0 && ratio <= 1)) {
        setText($('ctl-result'), 'a sampling ratio is a number from 0 to 1');
        return;
      }
      control('/sampling', { ratio }, 'Set the sampling ratio to ' + ratio + '?');
    });
    $('samp-reset').addEventListener('click', () => control('/sampling', { reset: true }, 'Reset sampling to its configured ratio and clear every override?'));
    $('ovr-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('ovr-key').value.trim();
      const ratio = Number($('ovr-ratio').value);
      if (!key || !(ratio >= 0 && ratio <= 1)) {
        setText($('ctl-result'), 'an override needs a key and a ratio from 0 to 1');
        return;
      }
      control('/sampling', { key, ratio }, 'Sample ' + key + ' at ' + ratio + '?');
    });
    $('log-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const filter = $('log-input').value.trim();
      control('/log-level', { filter }, 'Set the log filter to "' + filter + '"?');
    });
    $('log-reset').addEventListener('click', () => control('/log-level', { reset: true }, 'Reset the log filter to its configured default?'));
    $('bullet-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const method = $('bullet-method').value;
      const path = $('bullet-path').value.trim();
      if (!path.startsWith('/')) {
        setText($('bullet-result'), 'a path starts with / (fill in the route\'s {parameters})');
        return;
      }
      if (!(await ask('Fire a tracer bullet ' + method + ' ' + path + ' at this service? It is served for real, with its writes skipped.'))) {
        setText($('bullet-result'), 'cancelled: nothing sent');
        return;
      }
      const res = await post('/bullet', { method, path });
      const out = $('bullet-result');
      out.replaceChildren();
      if (!res.ok) {
        out.append('not fired: ' + (res.status ? res.status + ' ' : '') + res.error);
        return;
      }
      const d = res.data;
      out.append(d.refused ? 'refused by the service (' + d.refused + ') ' : 'answered ' + d.status + ' in ' + fmtDur(d.duration_s) + ', trace ', traceLink(d.trace_id));
    });
    $('dump-now').addEventListener('click', async () => {
      const button = $('dump-now');
      if (!(await ask('Write a snapshot of the flight recorder to the dump directory?'))) {
        setText($('ctl-result'), 'cancelled: no snapshot written');
        return;
      }
      button.disabled = true;
      setText($('ctl-result'), 'writing a snapshot…');
      try {
        showResult(await post('/dump', {}), 'The snapshot');
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    wire();
    route();
    schedule();
  });
})();
