/* augur view: the step debugger page. Vanilla JS, no dependencies, no build step.
 *
 * Data comes from the local server's JSON API (api/index, api/step/N, api/shot/N/KIND,
 * api/run-events) or, in an exported file, from the <script id="augur-data"> block.
 * Everything in a bundle is untrusted: text is only ever set with textContent / Text nodes,
 * never parsed as HTML; the only URLs used are the server's own and a Jaeger link the
 * server built from validated parts.
 */
'use strict';
(function () {
  const ROW_H = 30;
  const OVERSCAN = 10;
  const DETAIL_CACHE = 64;
  const POLL_RUNNING_MS = 300;
  const POLL_UNFINISHED_MS = 2000;
  const TABS = ['pre', 'action', 'post'];
  const STATUS_ICON = { succeeded: '✓', failed: '✗', skipped: '–', recovered: '↺', running: '●', pending: '○' };
  const KNOWN_FIELDS = new Set(['step_id', 'step_index', 'step_type', 'status', 'failure_class', 'intent',
    'started_at', 'ended_at', 'duration_ms', 'observation_pre', 'observation_post', 'action', 'grounding',
    'verdict', 'recovery_decision', 'latency', 'costs', 'events', 'required', 'loop_detected', 'step_iterations']);

  const $ = (id) => document.getElementById(id);

  const h = window.augurDom.h;

  function safeHttpUrl(url) {
    return typeof url === 'string' && /^https?:\/\/[^\s"'<>]+$/.test(url) ? url : null;
  }

  function extLink(url, text) {
    const safe = safeHttpUrl(url);
    if (!safe) return null;
    const a = h('a', { class: 'ext', target: '_blank', rel: 'noopener noreferrer', text });
    a.href = safe;
    return a;
  }

  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const str = (v) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const fmtNum = (v, d = 2) => (typeof v === 'number' && isFinite(v) ? String(Math.round(v * 10 ** d) / 10 ** d) : '');
  const pad = (i) => String(i).padStart(4, '0');
  const pt = (p) => (p ? `(${fmtNum(p[0], 1)}, ${fmtNum(p[1], 1)})` : '—');

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const m = Math.floor(ms / 60000);
    if (m < 60) return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function parseTime(iso) {
    if (typeof iso !== 'string') return null;
    const t = Date.parse(iso);
    return isFinite(t) ? t : null;
  }

  /** Timings for benchmarks (performance.now(), ms since navigation start). */
  const stats = { scriptStart: performance.now(), dataParsed: null, listDrawn: null, firstPaint: null, firstImage: null, switches: [] };
  window.augurViewer = { stats };

  // ── data sources ─────────────────────────────────────────────────────────
  function httpSource() {
    // The server inlines the first index into the page: no round trip before the first paint.
    const inlined = $('augur-initial');
    const initial = inlined ? JSON.parse(inlined.textContent) : {};
    let first = initial.index || null;
    let firstDetail = initial.detail || null;
    const get = (u) => fetch(u, { cache: 'no-store', credentials: 'same-origin' }).then((r) => {
      if (!r.ok) throw new Error(`${r.status} for ${u}`);
      return r.json();
    });
    return {
      live: true,
      // augur view DIR: the run list this run was opened from (a path on this server).
      runs: typeof initial.runs === 'string' && /^\/(#|$)/.test(initial.runs) ? initial.runs : null,
      index: (since) => {
        if (first) { const r = first; first = null; return Promise.resolve(r); }
        return get(`api/index?since=${since}`);
      },
      step: (i) => {
        if (firstDetail && firstDetail.i === i) { const d = firstDetail; firstDetail = null; return Promise.resolve(d); }
        return get(`api/step/${i}`);
      },
      runEvents: () => get('api/run-events'),
      // A model call's image (modelio/images/<sha256>.<ext>): only that name shape is asked for.
      image: (name) => (/^[0-9a-f]{64}\.(png|jpg|gif|webp)$/.test(name) ? `api/modelio-image/${name}` : null),
    };
  }

  function staticSource(data) {
    let served = false;
    return {
      live: false,
      index: () => {
        const r = served ? Object.assign({}, data.index, { steps: [] }) : data.index;
        served = true;
        return Promise.resolve(r);
      },
      step: (i) => {
        const d = data.details && data.details[String(i)];
        return d ? Promise.resolve(d) : Promise.reject(new Error(`no step ${i}`));
      },
      runEvents: () => Promise.resolve(data.run_events || { events: [] }),
      image: () => null,  // an exported page holds no model-call images
    };
  }

  const embedded = $('augur-data');
  const source = embedded ? staticSource(JSON.parse(embedded.textContent)) : httpSource();
  stats.dataParsed = performance.now();

  // ── state ────────────────────────────────────────────────────────────────
  const S = {
    meta: null,
    steps: [], // summaries, ordered by step index
    pos: new Map(), // step index -> position in steps
    gen: 0,
    epoch: null,
    view: [], // positions in steps that pass the filters
    viewPos: new Map(), // step index -> position in view
    sel: null,
    tab: 'action',
    filters: { q: '', status: 'all', fc: 'all', lowConf: false, conf: 0.5, far: false },
    details: new Map(),
    detail: null,
    seq: 0,
    scale: 'auto',
    actual: false,
    optKeys: { status: '', fc: '' },
    counts: { failed: 0 },
    started: false,
    branch: null, // where this run left its parent (branch.js), null for other runs
    parentHref: null,
    parentAsked: 0,
  };

  const isFailure = (s) => s.status === 'failed' || s.verdict === 'failed';
  const isLowConf = (s) => typeof s.conf === 'number' && s.conf < S.filters.conf;
  const isSuspect = (s) => isLowConf(s) || s.far === true;

  function haystack(s) {
    if (s._hay === undefined) {
      s._hay = [s.type, s.action, s.status, s.fc, s.intent, s.label, s.verdict, s.vreason, s.err].filter((x) => typeof x === 'string').join('\n').toLowerCase();
    }
    return s._hay;
  }

  function matches(s) {
    const f = S.filters;
    if (f.status === 'failures') { if (!isFailure(s)) return false; }
    else if (f.status !== 'all' && (s.status || '(none)') !== f.status) return false;
    if (f.fc !== 'all' && s.fc !== f.fc) return false;
    if (f.lowConf && !isLowConf(s)) return false;
    if (f.far && !s.far) return false;
    if (f.q) {
      for (const term of f.q.split(/\s+/)) {
        if (!term) continue;
        const m = /^#(\d+)$/.exec(term);
        if (m) { if (s.i !== Number(m[1])) return false; }
        else if (!haystack(s).includes(term)) return false;
      }
    }
    return true;
  }

  function rebuildView() {
    S.view = [];
    S.viewPos = new Map();
    for (let p = 0; p < S.steps.length; p++) {
      if (matches(S.steps[p])) {
        S.viewPos.set(S.steps[p].i, S.view.length);
        S.view.push(p);
      }
    }
    renderList();
    strip.base = null;
    drawStrip();
  }

  /** Position in the view of the selected step, or of the first step after it. */
  function viewCursor() {
    if (S.sel === null) return -1;
    if (S.viewPos.has(S.sel)) return S.viewPos.get(S.sel);
    let lo = 0; let hi = S.view.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (S.steps[S.view[mid]].i < S.sel) lo = mid + 1; else hi = mid;
    }
    return lo - 0.5; // between two view entries
  }

  // ── applying the index ───────────────────────────────────────────────────
  function applyIndex(r) {
    if (S.epoch !== null && r.epoch !== S.epoch) {
      // The directory now holds another run (or lost files): start over with its index.
      S.steps = []; S.pos = new Map(); S.details.clear();
      S.sel = null; S.detail = null; S.started = false;
    }
    S.epoch = r.epoch;
    S.gen = r.gen;
    const lastBefore = S.steps.length ? S.steps[S.steps.length - 1].i : null;
    const followTail = S.sel !== null && S.sel === lastBefore;
    let appended = false; let changedSel = false;
    for (const s of r.steps) {
      const p = S.pos.get(s.i);
      if (p !== undefined) {
        S.steps[p] = s;
        if (s.i === S.sel) changedSel = true;
      } else if (!S.steps.length || s.i > S.steps[S.steps.length - 1].i) {
        S.pos.set(s.i, S.steps.length);
        S.steps.push(s);
        appended = true;
      } else {
        S.steps.push(s);
        S.steps.sort((a, b) => a.i - b.i);
        S.pos = new Map(S.steps.map((x, k) => [x.i, k]));
        appended = true;
      }
    }
    const metaChanged = JSON.stringify(r.meta) !== JSON.stringify(S.meta);
    S.meta = r.meta;
    if (metaChanged) renderRun();
    if (r.steps.length || !S.started) {
      S.counts.failed = S.steps.reduce((n, s) => n + (isFailure(s) ? 1 : 0), 0);
      renderRunFacts();
      updateFilterOptions();
      rebuildView();
    }
    if (!S.started) {
      if (!S.steps.length) { renderEmpty(); return; }
      S.started = true;
      stats.listDrawn = performance.now();
      select(initialStep(), { first: true });
      return;
    }
    if (appended && followTail && S.meta.state === 'running') {
      select(S.steps[S.steps.length - 1].i);
    } else if (changedSel) {
      select(S.sel, { keepTab: true, refresh: true });
    }
  }

  function initialStep() {
    const link = parseHash();
    if (link.tab) S.tab = link.tab;
    if (link.step !== null && S.pos.has(link.step)) return link.step;
    if (S.meta && S.meta.state === 'running') return S.steps[S.steps.length - 1].i;
    const failure = S.steps.find(isFailure);
    return failure ? failure.i : S.steps[0].i;
  }

  async function poll() {
    let delay = null;
    try {
      applyIndex(await source.index(S.gen));
      if (S.pollFailed) { S.pollFailed = false; renderRun(); }
      if (source.live) {
        const st = S.meta && S.meta.state;
        delay = st === 'running' ? POLL_RUNNING_MS : st === 'unfinished' ? POLL_UNFINISHED_MS : null;
      }
    } catch (err) {
      S.pollFailed = true;
      showBanner('error', [`Could not reach the viewer's server (${err && err.message ? err.message : err}); retrying.`]);
      delay = source.live ? POLL_UNFINISHED_MS : null;
    }
    if (delay !== null) setTimeout(poll, delay);
  }

  // ── run header, banner, run dialog ───────────────────────────────────────
  function session() { return (S.meta && isObj(S.meta.session)) ? S.meta.session : {}; }
  function manifest() { return (S.meta && isObj(S.meta.manifest)) ? S.meta.manifest : {}; }
  function client() {
    const c = isObj(session().client) ? session().client : isObj(manifest().client) ? manifest().client : {};
    return c;
  }

  function runStatus() {
    const st = S.meta.state;
    if (st === 'running' && S.meta.exported) return 'running (snapshot)';
    if (st === 'running' || st === 'unfinished') return st;
    return str(session().status) || 'finished';
  }

  function runDuration() {
    const s = session();
    const a = parseTime(s.started_at);
    let b = parseTime(s.ended_at);
    const last = S.meta && isObj(S.meta.last_step) ? S.meta.last_step : null;
    if (b === null && last) {
      b = parseTime(last.ended_at);
      const t = parseTime(last.started_at);
      if (b === null && t !== null) b = t + (typeof last.duration_ms === 'number' ? last.duration_ms : 0);
    }
    return a !== null && b !== null && b >= a ? b - a : null;
  }

  function renderRun() {
    const m = S.meta;
    $('run-id').textContent = str(manifest().run_id || session().run_id || m.bundle);
    $('run-id').title = m.path || '';
    const badge = $('run-badge');
    const status = runStatus();
    badge.textContent = status;
    badge.className = `badge ${status.split(' ')[0]}`;
    document.title = `${status} · ${$('run-id').textContent} · augur view`;
    const notes = [];
    let kind = 'warn';
    if (m.state === 'unfinished') {
      kind = 'error';
      const who = m.live && m.live.pid ? ` (pid ${m.live.pid}${m.live.host ? ` on ${m.live.host}` : ''})` : '';
      notes.push(`This run did not finish: its producer${who} stopped without closing the bundle. `
        + 'The steps below are what reached disk. Finish the bundle with ', h('code', { text: str(m.recover_cmd) }));
    } else if (m.state === 'running' && m.exported) {
      notes.push('Exported while the run was still being written: later steps are not in this file.');
    }
    const producer = isObj(m.producer) ? m.producer : null;
    if (producer && producer.complete === false) {
      const lost = isObj(producer.lost) ? Object.entries(producer.lost).map(([k, v]) => `${k} ${v}`).join(', ') : '';
      notes.push(`${notes.length ? ' ' : ''}Incomplete bundle: the producer could not write everything${lost ? ` (lost: ${lost})` : ''}.`);
    }
    const missing = Array.isArray(manifest().missing) ? manifest().missing : [];
    if (missing.length) notes.push(`${notes.length ? ' ' : ''}${missing.length} file(s) listed as missing in manifest.json.`);
    if (notes.length) showBanner(kind, notes); else $('banner').hidden = true;
    renderBranch();
    renderRunFacts();
  }

  /** A branch run (DebugSession.branch_from): its parent, branch point and mutation, and,
   * opened from a run list that holds the parent, a link to it. */
  function renderBranch() {
    const B = window.augurBranch;
    const b = B.info(session());
    const changed = JSON.stringify(b) !== JSON.stringify(S.branch);
    S.branch = b;
    const el = $('branch-note');
    if (!b) { el.hidden = true; return; }
    el.replaceChildren(...B.note(b, S.parentHref).map((p) => (p instanceof Node ? p : document.createTextNode(String(p)))));
    el.hidden = false;
    if (changed && S.started) renderList(); // rows mark the replayed steps and the branch point
    if (source.runs && !S.parentHref && Date.now() - S.parentAsked > 5000) {
      S.parentAsked = Date.now();
      fetch('/api/runs', { cache: 'no-store', credentials: 'same-origin' })
        .then((r) => (r.ok ? r.json() : null))
        .then((listing) => {
          const href = listing ? B.parentHref(listing, b, location.pathname) : null;
          if (href) { S.parentHref = href; renderBranch(); }
        })
        .catch(() => {});
    }
  }

  function showBanner(kind, parts) {
    const b = $('banner');
    b.className = `banner${kind === 'warn' ? ' warn' : ''}`;
    b.replaceChildren(...parts.flat().map((p) => (p instanceof Node ? p : document.createTextNode(String(p)))));
    b.hidden = false;
  }

  function renderRunFacts() {
    if (!S.meta) return;
    const c = client();
    const facts = [];
    const fact = (label, value) => { if (value) facts.push(h('span', null, `${label} `, h('b', { text: value }))); };
    fact('client', [str(c.name), str(c.version)].filter(Boolean).join(' '));
    if (c.git_sha) fact('git', str(c.git_sha).slice(0, 10));
    fact('capture', str(session().capture_mode || manifest().capture_mode));
    fact('steps', String(S.steps.length));
    if (S.counts.failed) fact('failed', String(S.counts.failed));
    const d = runDuration();
    if (d !== null) fact('duration', fmtMs(d));
    const costs = isObj(session().costs) ? session().costs : isObj(manifest().costs) ? manifest().costs : {};
    let usd = typeof costs.total_usd === 'number' ? costs.total_usd : null;
    let tok = typeof costs.tokens_in === 'number' ? costs.tokens_in : null;
    if (usd === null) { const sum = S.steps.reduce((a, st) => a + (typeof st.usd === 'number' ? st.usd : 0), 0); if (sum) usd = sum; }
    if (tok === null) { const sum = S.steps.reduce((a, st) => a + (typeof st.tok === 'number' ? st.tok : 0), 0); if (sum) tok = sum; }
    const calls = isObj(S.meta.model_calls) ? S.meta.model_calls : null;
    if (tok === null && calls && typeof calls.tokens_in === 'number') tok = calls.tokens_in;
    if (usd !== null) fact('cost', `$${fmtNum(usd, 4)}`);
    if (tok !== null) fact('tokens in', String(tok));
    if (calls && typeof calls.tokens_out === 'number') fact('tokens out', String(calls.tokens_out));
    if (calls && typeof calls.count === 'number') fact('model calls', String(calls.count));
    const line = scoreLine();
    if (line) facts.push(h('span', { class: 'scoreline-wrap', title: 'verdict score per step (0 to 1)' }, 'score ', line));
    const tags = isObj(session().tags) ? Object.entries(session().tags) : [];
    if (tags.length) {
      const shown = tags.slice(0, 4).map(([k, v]) => `${k}=${str(v)}`).join(' ');
      fact('tags', shown + (tags.length > 4 ? ` +${tags.length - 4}` : ''));
    }
    $('run-facts').replaceChildren(...facts);
  }

  /** The run's score timeline: one point per step with a verdict score (0 bottom, 1 top). */
  function scoreLine() {
    const pts = S.steps.filter((st) => typeof st.score === 'number');
    if (!pts.length) return null;
    const NS = 'http://www.w3.org/2000/svg';
    const w = 160; const hgt = 18; const n = S.steps.length;
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'scoreline'); svg.setAttribute('width', String(w)); svg.setAttribute('height', String(hgt));
    svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    const xy = (st, k) => [n > 1 ? (k / (n - 1)) * (w - 4) + 2 : w / 2, hgt - 2 - Math.max(0, Math.min(1, st.score)) * (hgt - 4)];
    const coords = pts.map((st) => xy(st, S.steps.indexOf(st)));
    const poly = document.createElementNS(NS, 'polyline');
    poly.setAttribute('points', coords.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
    svg.append(poly);
    pts.forEach((st, k) => {
      const dot = document.createElementNS(NS, 'circle');
      dot.setAttribute('cx', coords[k][0].toFixed(1)); dot.setAttribute('cy', coords[k][1].toFixed(1)); dot.setAttribute('r', '2');
      dot.setAttribute('data-step', String(st.i));
      const title = document.createElementNS(NS, 'title'); title.textContent = `step ${st.i}: ${fmtNum(st.score, 2)}`;
      dot.append(title); svg.append(dot);
    });
    return svg;
  }

  function kvList(pairs) {
    const dl = h('dl', { class: 'kv' });
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === '') continue;
      dl.append(h('dt', { text: k }), v instanceof Node ? h('dd', null, v) : h('dd', { text: str(v) }));
    }
    return dl;
  }

  async function openRunInfo() {
    const m = S.meta; if (!m) return;
    const s = session(); const c = client(); const man = manifest();
    const body = $('info-body');
    const d = runDuration();
    const stepTotal = typeof m.steps_ms === 'number' ? m.steps_ms : 0;
    const parts = [
      h('h3', { text: 'Session' }),
      kvList([
        ['run id', man.run_id || s.run_id], ['debug session', s.debug_session_id],
        ['status', runStatus()], ['client', c.name], ['version', c.version], ['git sha', c.git_sha],
        ['capture mode', s.capture_mode || man.capture_mode], ['started', s.started_at], ['ended', s.ended_at],
        ['wall time', d !== null ? fmtMs(d) : ''], ['time in steps', stepTotal ? fmtMs(stepTotal) : ''],
        ['steps', `${S.steps.length} (${S.counts.failed} failed)`], ['schema version', man.schema_version || s.schema_version],
        ['redaction', isObj(man.redaction) ? `${str(man.redaction.policy_id)}${man.redaction.applied ? ' (applied)' : ''}` : ''],
        ['bundle', m.path],
      ]),
    ];
    if (isObj(s.tags) && Object.keys(s.tags).length) parts.push(h('h3', { text: 'Tags' }), kvList(Object.entries(s.tags)));
    if (isObj(m.run_span)) {
      parts.push(h('h3', { text: 'OpenTelemetry' }), kvList([
        ['trace id', m.run_span.trace_id], ['run span id', m.run_span.span_id],
        ['Jaeger', extLink(m.jaeger_run, 'open the trace in Jaeger') || (m.jaeger ? '' : 'set --jaeger-url or AUGUR_JAEGER_URL for links')],
      ]));
    }
    if (m.live) parts.push(h('h3', { text: 'Producer process' }), kvList(Object.entries(m.live)));
    if (isObj(m.producer)) parts.push(h('h3', { text: 'producer.json' }), h('pre', { class: 'json', text: JSON.stringify(m.producer, null, 2) }));
    if (Array.isArray(man.missing) && man.missing.length) parts.push(h('h3', { text: 'Missing files' }), h('pre', { class: 'json', text: man.missing.join('\n') }));
    if (isObj(man.costs) || isObj(s.costs)) parts.push(h('h3', { text: 'Costs' }), kvList(Object.entries(isObj(s.costs) ? s.costs : man.costs)));
    const evBox = h('div', null, h('p', { class: 'muted', text: 'loading…' }));
    parts.push(h('h3', { text: 'Run-level decision events' }), evBox);
    body.replaceChildren(...parts);
    const dlg = $('info');
    if (!dlg.open) dlg.showModal();
    try {
      const r = await source.runEvents();
      const evs = Array.isArray(r.events) ? r.events : [];
      evBox.replaceChildren(evs.length ? renderEvents(evs, parseTime(s.started_at)) : h('p', { class: 'muted', text: 'none' }),
        ...renderRecordSections(r.records));
    } catch (err) {
      evBox.replaceChildren(h('p', { class: 'muted', text: `could not load: ${err.message}` }));
    }
  }

  // ── filters ──────────────────────────────────────────────────────────────
  function updateFilterOptions() {
    const statuses = new Map(); const classes = new Map();
    for (const s of S.steps) {
      const st = s.status || '(none)';
      statuses.set(st, (statuses.get(st) || 0) + 1);
      if (s.fc) classes.set(s.fc, (classes.get(s.fc) || 0) + 1);
    }
    const fill = (id, key, first, entries) => {
      const k = JSON.stringify(entries);
      if (S.optKeys[key] === k) return;
      S.optKeys[key] = k;
      const sel = $(id); const cur = sel.value;
      sel.replaceChildren(...first.map(([v, t]) => h('option', { value: v, text: t })),
        ...entries.map(([v, n]) => h('option', { value: v, text: `${v} (${n})` })));
      sel.value = [...sel.options].some((o) => o.value === cur) ? cur : first[0][0];
    };
    fill('f-status', 'status', [['all', 'All statuses'], ['failures', `Failures (${S.counts.failed})`]],
      [...statuses.entries()].sort());
    fill('f-class', 'fc', [['all', 'Any failure class']], [...classes.entries()].sort());
  }

  function readFilters() {
    const f = S.filters;
    f.q = $('search').value.trim().toLowerCase();
    f.status = $('f-status').value;
    f.fc = $('f-class').value;
    f.lowConf = $('f-lowconf').checked;
    const c = parseFloat($('f-conf').value);
    f.conf = isFinite(c) ? c : 0.5;
    f.far = $('f-far').checked;
    for (const s of S.steps) delete s._hay;
    rebuildView();
    if (S.sel !== null && S.viewPos.has(S.sel)) scrollToStep(S.sel);
    else if (S.view.length && (f.q || f.status !== 'all' || f.fc !== 'all' || f.lowConf || f.far)) {
      select(S.steps[S.view[0]].i, { keepTab: true });
    }
  }

  // ── virtualized step list ────────────────────────────────────────────────
  function makeRow() {
    return h('div', { class: 'row', role: 'option' },
      h('span', { class: 'idx' }), h('span', { class: 'st' }), h('span', { class: 'ty' }),
      h('span', { class: 'tx' }), h('span', { class: 'fl' }));
  }

  function fillRow(row, s) {
    const role = window.augurBranch.stepRole(S.branch, s.i);
    const key = `${s.i}:${s.g}:${s.i === S.sel}:${S.filters.conf}:${role}`;
    if (row._key === key) return;
    row._key = key;
    row.dataset.i = String(s.i);
    const failure = isFailure(s);
    row.className = `row ${failure ? 'failed' : ''} ${s.status === 'skipped' ? 'skipped' : ''} ${s.status === 'succeeded' && !failure ? 'succeeded' : ''}${s.i === S.sel ? ' sel' : ''}${role ? ` ${role}` : ''}`;
    row.setAttribute('aria-selected', s.i === S.sel ? 'true' : 'false');
    const [idx, st, ty, tx, fl] = row.children;
    idx.textContent = pad(s.i);
    st.textContent = failure ? '✗' : (STATUS_ICON[s.status] || '?');
    st.title = s.status || '';
    ty.textContent = s.action || s.type || '';
    tx.textContent = s.status === 'skipped' && !s.intent ? 'skipped · not captured' : (s.intent || s.label || s.fc || `step ${s.i}`);
    row.title = [s.intent, s.fc, s.vreason].filter(Boolean).join(' — ');
    const flags = [];
    if (role === 'replayed') flags.push(h('span', { class: 'flag replay', title: 'replayed from the parent run: not executed by this run', text: 'replayed' }));
    if (role === 'point') flags.push(h('span', { class: 'flag branch', title: 'branch point: this run left its parent here', text: 'branch point' }));
    if (s.err) flags.push(h('span', { class: 'flag err', title: s.err, text: '!' }));
    if (s.far) flags.push(h('span', { class: 'flag far', title: `click ${fmtNum(s.dist, 1)} px from the grounding target`, text: 'far' }));
    if (isLowConf(s)) flags.push(h('span', { class: 'flag low', title: 'grounding confidence', text: fmtNum(s.conf) }));
    fl.replaceChildren(...flags);
  }

  function renderList() {
    const list = $('list'); const rows = $('list-rows'); const n = S.view.length;
    $('list-spacer').style.height = `${n * ROW_H}px`;
    const top = list.scrollTop; const height = list.clientHeight || 600;
    const start = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const end = Math.min(n, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    rows.style.transform = `translateY(${start * ROW_H}px)`;
    while (rows.childElementCount < end - start) rows.append(makeRow());
    while (rows.childElementCount > Math.max(0, end - start)) rows.lastChild.remove();
    for (let k = start; k < end; k++) fillRow(rows.children[k - start], S.steps[S.view[k]]);
    const total = S.steps.length;
    $('list-count').textContent = n === total ? `${total} steps` : `${n} of ${total} steps`;
    if (!n && total) {
      if (!$('list-empty')) rows.append(h('div', { id: 'list-empty', class: 'empty', text: 'No step matches the filters.' }));
    }
  }

  function scrollToStep(i) {
    const vp = S.viewPos.get(i);
    if (vp === undefined) return;
    const list = $('list');
    const top = vp * ROW_H;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_H - list.clientHeight;
    renderList();
  }

  const strip = { base: null, width: 0, colors: null };

  function stripColors() {
    if (!strip.colors) {
      const cs = getComputedStyle(document.documentElement);
      const v = (n) => cs.getPropertyValue(n).trim();
      strip.colors = { ok: v('--ok'), skip: v('--skip'), warn: v('--warn'), fail: v('--fail'), ink: v('--ink') };
    }
    return strip.colors;
  }

  /** Paint one column per step (failures on top) into an offscreen canvas. */
  function drawStripBase() {
    const c = $('strip'); const n = S.steps.length;
    const w = c.clientWidth; const hgt = c.clientHeight || 16; const dpr = window.devicePixelRatio || 1;
    strip.width = w;
    if (!w) { strip.base = null; return; }
    const base = document.createElement('canvas');
    base.width = Math.round(w * dpr); base.height = Math.round(hgt * dpr);
    const ctx = base.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const colors = stripColors();
    const layers = { ok: [], skip: [], warn: [], fail: [] };
    for (let p = 0; p < n; p++) {
      const s = S.steps[p];
      layers[isFailure(s) ? 'fail' : isSuspect(s) ? 'warn' : s.status === 'skipped' ? 'skip' : 'ok'].push(p);
    }
    for (const k of ['ok', 'skip', 'warn', 'fail']) {
      ctx.fillStyle = colors[k];
      ctx.globalAlpha = k === 'ok' ? 0.45 : 1;
      for (const p of layers[k]) {
        const x0 = Math.floor((p * w) / n); const x1 = Math.max(x0 + 1, Math.floor(((p + 1) * w) / n));
        ctx.fillRect(x0, k === 'ok' ? 5 : 2, x1 - x0, k === 'ok' ? hgt - 10 : hgt - 4);
      }
    }
    strip.base = base;
  }

  function drawStrip() {
    const c = $('strip'); const n = S.steps.length;
    if (!strip.base || strip.width !== c.clientWidth) drawStripBase();
    if (!strip.base) return;
    if (c.width !== strip.base.width || c.height !== strip.base.height) {
      c.width = strip.base.width; c.height = strip.base.height;
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.drawImage(strip.base, 0, 0);
    if (S.sel !== null && S.pos.has(S.sel) && n) {
      const dpr = window.devicePixelRatio || 1;
      const x = Math.floor(((S.pos.get(S.sel) + 0.5) * strip.width) / n);
      ctx.fillStyle = stripColors().ink;
      ctx.fillRect(Math.round(Math.max(0, x - 1) * dpr), 0, Math.round(2 * dpr), c.height);
    }
  }

  // ── selection and step details ───────────────────────────────────────────
  function getDetail(i) {
    const s = S.steps[S.pos.get(i)];
    const key = `${i}:${s ? s.g : ''}`;
    if (S.details.has(key)) {
      const v = S.details.get(key);
      S.details.delete(key); S.details.set(key, v); // LRU touch
      return v;
    }
    const p = source.step(i);
    S.details.set(key, p);
    p.catch(() => S.details.delete(key));
    while (S.details.size > DETAIL_CACHE) S.details.delete(S.details.keys().next().value);
    return p;
  }

  const preloaded = [];
  function prefetch(i) {
    const vp = S.viewPos.get(i);
    if (vp === undefined) return;
    for (const d of [1, -1, 2]) {
      const p = S.view[vp + d];
      if (p === undefined) continue;
      getDetail(S.steps[p].i).then((det) => {
        const shot = det.shots && det.shots[S.tab === 'post' ? 'post' : 'pre'];
        if (shot && shot.url) {
          const img = new Image(); img.decoding = 'async'; img.src = shot.url;
          if (img.decode) img.decode().catch(() => {});
          preloaded.push(img); if (preloaded.length > 8) preloaded.shift();
        }
      }).catch(() => {});
    }
  }

  // The hash we last wrote or handled. When location.hash differs from it, a link was
  // followed whose hashchange event is still queued: that link wins, so the debounced write
  // must not overwrite it (it would swallow the navigation).
  let hashTimer = null;
  let ownHash = location.hash;
  function updateHash() {
    clearTimeout(hashTimer);
    hashTimer = setTimeout(() => {
      if (S.sel === null || location.hash !== ownHash) return;
      const hash = `#step=${S.sel}&tab=${S.tab}`;
      if (location.hash !== hash) history.replaceState(null, '', hash);
      ownHash = location.hash; // as the browser normalized it, so the next check compares like with like
    }, 120);
  }

  function parseHash() {
    const q = new URLSearchParams(location.hash.replace(/^#\/?/, ''));
    const step = q.has('step') && /^\d+$/.test(q.get('step')) ? Number(q.get('step')) : null;
    const tab = TABS.includes(q.get('tab')) ? q.get('tab') : null;
    return { step, tab };
  }

  function markRows() {
    for (const row of $('list-rows').children) {
      if (!row.dataset.i) continue;
      const on = Number(row.dataset.i) === S.sel;
      if (row.classList.contains('sel') === on) continue;
      row._key = null;
      row.classList.toggle('sel', on);
      row.setAttribute('aria-selected', on ? 'true' : 'false');
    }
  }

  function select(i, opts = {}) {
    if (!S.pos.has(i)) return;
    const t0 = performance.now();
    const same = i === S.sel;
    S.sel = i;
    const seq = ++S.seq;
    markRows();
    scrollToStep(i);
    drawStrip();
    updateHash();
    const s = S.steps[S.pos.get(i)];
    renderStepTitle(s);
    setTabButtons();
    if (!same || opts.refresh) $('detail').dataset.ready = '0';
    getDetail(i).then((d) => {
      if (seq !== S.seq) return;
      S.detail = d;
      renderDetail(d, s);
      renderShot(() => {
        if (seq !== S.seq) return;
        const t2 = performance.now();
        if (stats.firstImage === null) stats.firstImage = t2;
        const last = stats.switches[stats.switches.length - 1];
        if (last && last.i === i && last.image === null) last.image = t2 - last.t0;
      });
      const t1 = performance.now();
      if (!opts.first) stats.switches.push({ i, t0, text: t1 - t0, image: null });
      if (stats.switches.length > 1000) stats.switches.shift();
      if (stats.firstPaint === null) {
        stats.firstPaint = t1;
        document.body.dataset.ready = '1';
      }
      prefetch(i);
    }).catch((err) => {
      if (seq !== S.seq) return;
      $('detail').replaceChildren(h('div', { class: 'errbox', text: `Could not load step ${i}: ${err.message}` }));
    });
  }

  function renderEmpty() {
    $('list-count').textContent = '0 steps';
    $('step-title').textContent = '';
    const off = str(session().capture_mode || manifest().capture_mode) === 'off';
    const msg = off ? 'Nothing was recorded: the run had no capture mode (off). Pass capture_mode=CaptureMode.SCREENSHOTS (or another mode) to DebugSession, or set AUGUR_CAPTURE_MODE=screenshots.'
      : S.meta && S.meta.state === 'running' ? 'No steps yet: waiting for the first step…' : 'This bundle has no steps.';
    $('detail').replaceChildren(h('p', { class: 'muted', id: 'empty-reason', text: msg }));
    $('shot-wrap').hidden = true;
    showShotMsg('', 'No steps', msg);
    document.body.dataset.ready = '1';
    if (stats.firstPaint === null) stats.firstPaint = performance.now();
  }

  function renderStepTitle(s) {
    const failure = isFailure(s);
    $('step-title').replaceChildren(
      h('span', { class: failure ? 'verdict-failed' : '', text: `Step ${s.i} ${failure ? '✗' : STATUS_ICON[s.status] || ''}` }),
      h('span', { class: 'muted', text: `  ${s.action || s.type || ''}${s.intent ? ` · ${s.intent}` : ''}` }));
  }

  function setTabButtons() {
    for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-selected', b.dataset.tab === S.tab ? 'true' : 'false');
  }

  function setTab(tab) {
    if (!TABS.includes(tab)) return;
    S.tab = tab;
    setTabButtons();
    updateHash();
    if (S.detail && S.detail.i === S.sel) renderShot();
  }

  function section(title, ...content) {
    return h('section', null, h('h3', { text: title }), ...content);
  }

  function scalarOrJson(v) {
    if (v !== null && typeof v === 'object') return h('pre', { class: 'json', text: JSON.stringify(v, null, 2) });
    return str(v);
  }

  function confView(c) {
    if (typeof c !== 'number') return null;
    const low = c < S.filters.conf;
    const bar = h('span', { class: 'conf-bar' }, h('span'));
    bar.firstChild.style.width = `${Math.max(0, Math.min(1, c)) * 100}%`;
    return h('span', { class: `conf${low ? ' low' : ''}` }, bar, fmtNum(c, 3), low ? ' low' : '');
  }

  function renderDetail(d, s) {
    const step = isObj(d.step) ? d.step : {};
    const action = isObj(step.action) ? step.action : {};
    const gr = isObj(step.grounding) ? step.grounding : {};
    const verdict = isObj(step.verdict) ? step.verdict : {};
    const failure = isFailure(s);
    const out = [];
    out.push(h('h2', null, `Step ${s.i}`, ' ', h('span', { class: 'muted mono', text: str(step.step_id) })));
    const pills = h('div', { class: 'pills' });
    if (step.status !== undefined) pills.append(h('span', { class: `pill ${failure && step.status === 'failed' ? 'failed' : str(step.status)}`, text: str(step.status) }));
    if (verdict.status !== undefined) pills.append(h('span', { class: `pill ${verdict.status === 'failed' ? 'failed' : str(verdict.status)}`, text: `verdict: ${str(verdict.status)}` }));
    if (step.failure_class) pills.append(h('span', { class: 'pill fc', text: str(step.failure_class) }));
    if (s.far) pills.append(h('span', { class: 'pill warn', text: `click ${fmtNum(s.dist, 1)} px from target` }));
    if (isLowConf(s)) pills.append(h('span', { class: 'pill warn', text: `low confidence ${fmtNum(s.conf)}` }));
    if (gr.provenance && gr.provenance !== 'screenshot') pills.append(h('span', { class: 'pill warn', text: `provenance: ${str(gr.provenance)}` }));
    out.push(pills);
    if (d.error) out.push(h('div', { class: 'errbox', text: d.error }));
    if (step.status === 'skipped') out.push(h('p', { class: 'muted', text: 'Skipped step: nothing was captured for it.' }));
    out.push(h('div', { class: 'intent', id: 'intent', text: typeof step.intent === 'string' ? step.intent : '' }));

    if (Object.keys(action).length) {
      const params = isObj(action.params) ? Object.entries(action.params).map(([k, v]) => [`  ${k}`, scalarOrJson(v)]) : [];
      out.push(section('Action', kvList([['type', action.type], ...params, ['coordinate space', action.coordinate_space], ['dispatch', action.dispatch_backend],
        ...Object.entries(action).filter(([k]) => !['type', 'params', 'coordinate_space', 'dispatch_backend'].includes(k)).map(([k, v]) => [k, scalarOrJson(v)])])));
    }
    if (Object.keys(gr).length) {
      const diag = gr.provenance === 'dom' || gr.provenance === 'diagnostic';
      out.push(section('Grounding', kvList([
        ['provider', gr.provider], ['target', gr.target_label],
        ['coordinates', isObj(gr.coordinates) ? pt([gr.coordinates.x, gr.coordinates.y]) : ''],
        ['confidence', confView(gr.confidence)], ['evidence', gr.evidence],
        ['provenance', gr.provenance ? `${str(gr.provenance)}${diag ? ' — diagnostic evidence, not what the model saw' : ''}` : ''],
      ])));
    }
    if (s.click || s.target) {
      out.push(section('Click vs target', kvList([
        ['executed click', s.click ? pt(s.click) : 'not recorded'],
        ['grounding target', s.target ? pt(s.target) : 'not recorded'],
        ['distance', typeof s.dist === 'number' ? `${fmtNum(s.dist, 1)} ${action.coordinate_space === 'screenshot_px' || action.coordinate_space === 'device_px' ? 'px' : 'CSS px'}${s.far ? ` — far (more than ${S.meta.far_px} px)` : ''}` : ''],
      ])));
    }
    if (Object.keys(verdict).length) {
      out.push(section('Verdict', kvList([
        ['status', verdict.status ? h('span', { class: verdict.status === 'failed' ? 'verdict-failed' : '', text: str(verdict.status) }) : ''],
        ['reason', verdict.reason], ['score', verdict.score], ['comparator', verdict.comparator],
        ...Object.entries(verdict).filter(([k]) => !['status', 'reason', 'score', 'comparator'].includes(k)).map(([k, v]) => [k, scalarOrJson(v)]),
      ])));
    }
    if (isObj(step.recovery_decision)) out.push(section('Recovery', kvList(Object.entries(step.recovery_decision).map(([k, v]) => [k, scalarOrJson(v)]))));
    out.push(section('Status', kvList([
      ['status', step.status], ['failure class', step.failure_class], ['step type', step.step_type],
      ['required', step.required], ['loop detected', step.loop_detected], ['iterations', step.step_iterations],
    ])));
    const timing = [['started', step.started_at], ['ended', step.ended_at], ['duration', typeof step.duration_ms === 'number' ? fmtMs(step.duration_ms) : '']];
    if (isObj(step.latency)) for (const [k, v] of Object.entries(step.latency)) timing.push([k.replace(/_ms$/, ''), typeof v === 'number' ? fmtMs(v) : str(v)]);
    out.push(section('Timing', kvList(timing)));
    if (isObj(step.costs)) out.push(section('Costs', kvList(Object.entries(step.costs))));
    const judges = Array.isArray(step.judge_decisions) ? step.judge_decisions.filter(isObj) : [];
    if (judges.length) {
      const rows = judges.map((j) => {
        const v = isObj(j.verdict) ? j.verdict : {};
        return h('tr', null, h('td', { text: str(j.judge_id) }), h('td', { text: str(j.judge_type) }),
          h('td', { text: str(v.status) }), h('td', { text: typeof v.score === 'number' ? fmtNum(v.score, 2) : '' }),
          h('td', { text: typeof j.confidence === 'number' ? fmtNum(j.confidence, 2) : '' }), h('td', { text: str(v.reason) }));
      });
      const head = h('tr', null, ...['judge', 'type', 'verdict', 'score', 'confidence', 'reason'].map((t) => h('th', { text: t })));
      const source = step.verdict_source ? h('p', { class: 'muted', text: `operative verdict from ${str(step.verdict_source)}` }) : null;
      out.push(section(`Judge decisions (${judges.length})`, h('table', { class: 'judges' }, head, ...rows), source));
    }
    const iters = Array.isArray(d.iterations) ? d.iterations.filter((it) => isObj(it) && isObj(it.step)) : [];
    if (iters.length) {
      const cols = [{ rel: d.rel, step }, ...iters].map((it) => {
        const st = it.step; const a = isObj(st.action) ? st.action : {}; const v = isObj(st.verdict) ? st.verdict : {};
        return h('div', { class: 'iteration' }, h('div', { class: 'mono muted', text: str(st.step_id) }),
          kvList([['status', st.status], ['action', a.type], ['intent', st.intent], ['verdict', v.status],
            ['score', typeof v.score === 'number' ? fmtNum(v.score, 2) : ''], ['started', st.started_at]]));
      });
      out.push(section(`Iterations (${cols.length}, side by side)`, h('div', { class: 'iterations' }, ...cols)));
    }
    if (d.span) {
      out.push(section('Trace', kvList([['trace id', d.span.trace_id], ['span id', d.span.span_id],
        ['Jaeger', extLink(d.jaeger, 'open this step in Jaeger') || (S.meta.jaeger ? '' : 'set --jaeger-url or AUGUR_JAEGER_URL for a link')]])));
    }
    const events = Array.isArray(d.events) ? d.events : [];
    const evTitle = `Decision events (${events.length}${d.bad_events ? `, ${d.bad_events} unreadable` : ''})`;
    out.push(section(evTitle, events.length ? renderEvents(events, parseTime(step.started_at)) : h('p', { class: 'muted', text: 'none recorded' })));
    out.push(...renderRecordSections(d.records));
    const rest = Object.entries(step).filter(([k]) => !KNOWN_FIELDS.has(k));
    if (rest.length) out.push(section('Other fields', h('pre', { class: 'json', text: JSON.stringify(Object.fromEntries(rest), null, 2) })));
    const box = $('detail');
    box.replaceChildren(...out);
    box.dataset.step = String(s.i);
    box.dataset.ready = '1';
  }

  /** Sections of the other record kinds (one per kind's viewer_section), from their specs. */
  function renderRecordSections(records) {
    if (!isObj(records)) return [];
    const out = [];
    for (const [name, sec] of Object.entries(records)) {
      if (!isObj(sec)) continue;
      const list = Array.isArray(sec.records) ? sec.records : [];
      const title = `${name === 'model_io' ? 'model calls' : name} (${list.length}${sec.bad ? `, ${sec.bad} unreadable` : ''})`;
      const render = RECORD_VIEWS[str(sec.kind)];
      const body = list.map((r) => {
        const rec = isObj(r) ? r.record : r;
        if (render && isObj(rec)) return render(rec, isObj(r) ? str(r.rel) : '');
        return h('pre', { class: 'json', 'data-kind': str(sec.kind), text: JSON.stringify(rec, null, 2) });
      });
      const box = section(title, body.length ? body : h('p', { class: 'muted', text: 'none readable' }));
      box.dataset.section = name;
      out.push(box);
    }
    return out;
  }

  // Kinds with a view of their own (the rest are shown as JSON).
  const RECORD_VIEWS = { modelio: renderModelCall, reasoning: renderReasoning };

  /** One model call: model, layer, latency, tokens, then the prompt and the response. */
  function renderModelCall(rec, rel) {
    const req = isObj(rec.request) ? rec.request : {};
    const res = isObj(rec.response) ? rec.response : {};
    const usage = isObj(res.usage) ? res.usage : {};
    const num = (v) => (typeof v === 'number' ? String(v) : '');
    const facts = kvList([
      ['model', str(req.model)], ['layer', str(rec.layer)],
      ['latency', typeof rec.duration_ms === 'number' ? fmtMs(rec.duration_ms) : ''],
      ['tokens in', num(usage.prompt_tokens)], ['tokens out', num(usage.completion_tokens)],
      ['cache hits', num(usage.cache_hit_tokens)], ['stop reason', str(res.stop_reason)],
      ['prompt hash', str(rec.prompt_hash)], ['file', rel],
    ]);
    const parts = [facts];
    if (typeof req.system === 'string') parts.push(h('div', { class: 'msg system' }, h('b', { text: 'system' }), h('div', { class: 'msg-text', text: req.system })));
    for (const m of Array.isArray(req.messages) ? req.messages : []) parts.push(renderMessage(m));
    if (typeof res.text === 'string') parts.push(h('div', { class: 'msg assistant' }, h('b', { text: 'response' }), h('div', { class: 'msg-text', text: res.text })));
    if (Array.isArray(res.tool_calls) && res.tool_calls.length) parts.push(h('div', { class: 'msg assistant' }, h('b', { text: 'tool calls' }), h('pre', { class: 'json', text: JSON.stringify(res.tool_calls, null, 2) })));
    if (!('messages' in req) && !('text' in res)) parts.push(h('p', { class: 'muted', text: 'Prompt and response are recorded from capture mode model_io up.' }));
    return h('details', { class: 'modelcall', 'data-kind': 'modelio', open: true },
      h('summary', { text: `${str(req.model) || 'model'} · ${str(rec.layer)}${typeof rec.duration_ms === 'number' ? ` · ${fmtMs(rec.duration_ms)}` : ''}` }), ...parts);
  }

  function renderMessage(m) {
    const msg = isObj(m) ? m : { content: m };
    const box = h('div', { class: `msg ${str(msg.role)}` }, h('b', { text: str(msg.role) || 'message' }));
    renderBlocks(msg.content, box, 0);
    return box;
  }

  /** A message's content, block by block: text, images from the bundle (every one, also
   * inside a tool result's content), anything else as JSON. */
  function renderBlocks(content, box, depth) {
    const blocks = Array.isArray(content) ? content : [content];
    for (const b of blocks) {
      if (b === undefined || b === null) continue;
      if (typeof b === 'string') {
        const ref = imageRef(b);
        box.append(ref ? imageEl(ref) : h('div', { class: 'msg-text', text: b }));
        continue;
      }
      const ref = imageRef(b);
      if (ref) { box.append(imageEl(ref)); continue; }
      if (isObj(b) && typeof b.text === 'string') { box.append(h('div', { class: 'msg-text', text: b.text })); continue; }
      if (isObj(b) && Array.isArray(b.content) && depth < 4) {
        const inner = h('div', { class: 'msg-nested' }, h('div', { class: 'muted', text: [str(b.type), b.is_error ? 'error' : ''].filter(Boolean).join(' · ') }));
        renderBlocks(b.content, inner, depth + 1);
        box.append(inner);
        continue;
      }
      box.append(h('pre', { class: 'json', text: JSON.stringify(b, null, 2) }));
    }
  }

  function imageEl(ref) {
    const url = source.image(ref.split('/').pop());
    return url ? h('img', { class: 'msg-img', src: url, alt: ref, loading: 'lazy' }) : h('div', { class: 'muted', text: `[image ${ref}]` });
  }

  /** The bundle path of the image a block is (set by record_modelio): a "bundle:..." string,
   * a {type: "bundle", path} source, or an image_url holding either. */
  function imageRef(b) {
    const fromString = (v) => (typeof v === 'string' && v.startsWith('bundle:modelio/images/') ? v.slice(7) : null);
    if (typeof b === 'string') return fromString(b);
    if (!isObj(b)) return null;
    if (b.type === 'bundle' && typeof b.path === 'string') return b.path;
    if (isObj(b.source) && b.source.type === 'bundle' && typeof b.source.path === 'string') return b.source.path;
    const url = isObj(b.image_url) ? b.image_url.url : b.image_url;
    return fromString(url);
  }

  function renderReasoning(rec) {
    return h('div', { class: 'reasoning', 'data-kind': 'reasoning' },
      h('div', { class: 'muted', text: [str(rec.format), str(rec.model), typeof rec.tokens === 'number' ? `${rec.tokens} tokens` : ''].filter(Boolean).join(' · ') }),
      h('div', { class: 'msg-text', text: str(rec.text) }));
  }

  function renderEvents(events, t0) {
    const layers = new Map();
    for (const ev of events) {
      const e = isObj(ev) ? ev : { summary: str(ev) };
      const layer = str(e.layer) || '(no layer)'; const kind = str(e.kind) || '(no kind)';
      if (!layers.has(layer)) layers.set(layer, new Map());
      const kinds = layers.get(layer);
      if (!kinds.has(kind)) kinds.set(kind, []);
      kinds.get(kind).push(e);
    }
    const out = [];
    for (const [layer, kinds] of layers) {
      const n = [...kinds.values()].reduce((a, l) => a + l.length, 0);
      const box = h('details', { class: 'layer', open: events.length <= 60 },
        h('summary', { text: `${layer} · ${n} event${n === 1 ? '' : 's'} · ${[...kinds.keys()].join(', ')}` }));
      for (const [kind, list] of kinds) {
        const k = h('div', { class: 'kind' }, h('div', { class: `kind-name${/error|fail/i.test(kind) ? ' error' : ''}`, text: `${kind} (${list.length})` }));
        for (const e of list) {
          const t = parseTime(e.ts);
          const when = t !== null && t0 !== null ? `${t >= t0 ? '+' : ''}${fmtMs(t - t0)}` : str(e.ts);
          const extra = Object.fromEntries(Object.entries(e).filter(([key]) => !['ts', 'layer', 'kind', 'summary', 'step_index'].includes(key)));
          k.append(h('div', { class: 'ev' },
            h('div', { class: 'ev-head' }, h('span', { class: 'ev-time', title: str(e.ts), text: when }), h('span', { class: 'ev-sum', text: str(e.summary) })),
            Object.keys(extra).length ? h('details', null, h('summary', { text: 'detail' }), h('pre', { class: 'json', text: JSON.stringify(extra.detail !== undefined && Object.keys(extra).length === 1 ? extra.detail : extra, null, 2) })) : null));
        }
        box.append(k);
      }
      out.push(box);
    }
    return h('div', null, ...out);
  }

  // ── screenshot and overlay ───────────────────────────────────────────────
  const img = $('shot');
  let onShown = null;
  img.addEventListener('load', () => {
    if (img.dataset.want !== img.getAttribute('src')) return;
    $('shot-wrap').classList.remove('loading');
    layoutShot();
    drawOverlay();
    $('shot-wrap').dataset.loaded = '1';
    if (onShown) { const f = onShown; onShown = null; f(); }
  });
  img.addEventListener('error', () => {
    if (img.dataset.want !== img.getAttribute('src')) return;
    const d = S.detail; const kind = S.tab === 'post' ? 'post' : 'pre';
    $('shot-wrap').hidden = true;
    showShotMsg('missing', 'Screenshot could not be shown', `${str(d && d.shots[kind].path)} is not a readable image.`);
    onShown = null;
  });

  function showShotMsg(kind, title, text) {
    const m = $('shot-msg');
    m.className = `shot-msg ${kind}`;
    m.replaceChildren(h('strong', { text: title }), h('span', { text }));
    m.hidden = false;
  }

  function renderShot(done) {
    const d = S.detail; if (!d) return;
    const s = S.steps[S.pos.get(d.i)];
    const kind = S.tab === 'post' ? 'post' : 'pre';
    const shot = (d.shots && d.shots[kind]) || { status: 'none' };
    const wrap = $('shot-wrap');
    wrap.dataset.step = String(d.i); wrap.dataset.tab = S.tab;
    $('overlay').replaceChildren();
    const label = kind === 'pre' ? 'pre-action' : 'post-action';
    if (shot.status !== 'ok' || !shot.url) {
      wrap.hidden = true; wrap.dataset.loaded = '0';
      img.removeAttribute('src'); img.dataset.want = '';
      const step = isObj(d.step) ? d.step : {};
      const mode = str(step.capture_mode || session().capture_mode || manifest().capture_mode);
      if (shot.status === 'missing') {
        showShotMsg('missing', 'Screenshot missing', `This step references ${str(shot.path)}, which is not in the bundle${shot.reason ? ` (${shot.reason})` : ''}.`);
      } else if (step.status === 'skipped') {
        showShotMsg('', 'Not captured', 'This step was skipped: no screenshot was taken.');
      } else if (['off', 'metadata', 'trace'].includes(mode)) {
        showShotMsg('', 'Not captured', `Capture mode "${mode}" records no screenshots.`);
      } else {
        showShotMsg('', 'Not captured', `No ${label} screenshot was recorded for this step.`);
      }
      renderLegend(d, s, null);
      if (done) done();
      return;
    }
    $('shot-msg').hidden = true;
    wrap.hidden = false;
    onShown = done || null;
    if (img.getAttribute('src') !== shot.url) {
      wrap.classList.add('loading'); wrap.dataset.loaded = '0';
      img.dataset.want = shot.url;
      img.alt = `${label} screenshot of step ${d.i}`;
      img.src = shot.url;
    } else {
      img.dataset.want = shot.url;
      if (img.complete && img.naturalWidth) {
        wrap.classList.remove('loading');
        layoutShot(); drawOverlay(); wrap.dataset.loaded = '1';
        if (onShown) { const f = onShown; onShown = null; f(); }
      }
    }
    renderLegend(d, s, null);
  }

  function layoutShot() {
    const nw = img.naturalWidth; const nh = img.naturalHeight;
    if (!nw || !nh) return;
    const stage = $('stage'); const wrap = $('shot-wrap');
    stage.classList.toggle('actual', S.actual);
    let w; let hh;
    if (S.actual) {
      const dpr = window.devicePixelRatio || 1;
      w = nw / dpr; hh = nh / dpr;
    } else {
      const cs = getComputedStyle(stage);
      const aw = stage.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      const ah = stage.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
      const k = Math.max(0.01, Math.min(aw / nw, ah / nh));
      w = nw * k; hh = nh * k;
    }
    wrap.style.width = `${w}px`; wrap.style.height = `${hh}px`;
  }

  function num(v) {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseFloat(v) : NaN;
    return isFinite(n) && n > 0 ? n : null;
  }

  /** Viewport facts recorded for a step: action.params.viewport, params/tags device scale. */
  function viewportOf(step) {
    const params = isObj(step.action) && isObj(step.action.params) ? step.action.params : {};
    const tags = isObj(session().tags) ? session().tags : {};
    const vp = isObj(params.viewport) ? params.viewport : {};
    let width = num(vp.width); let height = num(vp.height);
    const dsf = num(vp.device_scale_factor) || num(vp.dpr) || num(params.device_scale_factor) || num(params.dpr)
      || num(tags.device_scale_factor) || num(tags.dpr);
    if (!width && typeof tags.viewport === 'string') {
      const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(tags.viewport);
      if (m) { width = Number(m[1]); height = Number(m[2]); }
    }
    if (!width) { width = num(tags.viewport_width); height = height || num(tags.viewport_height); }
    return { width, height, dsf };
  }

  /** Image pixels per unit of the recorded coordinate space, and how we know. */
  function scaleInfo(step, nw) {
    const space = isObj(step.action) ? str(step.action.coordinate_space) : '';
    if (S.scale !== 'auto') return { k: Number(S.scale), note: `scale ${S.scale}× (chosen here)` };
    if (space === 'screenshot_px' || space === 'device_px') return { k: 1, note: `${space}: coordinates are screenshot pixels` };
    // viewport_css_px, dom_client_rect or nothing recorded: CSS pixels of the viewport.
    const vp = viewportOf(step);
    if (vp.width) {
      const k = nw / vp.width;
      const r = { k, note: `viewport ${vp.width}${vp.height ? `×${vp.height}` : ''} CSS px on a ${nw} px wide screenshot: scale ${fmtNum(k, 3)}×` };
      if (vp.dsf && Math.abs(vp.width * vp.dsf - nw) > 1) r.warn = `screenshot is ${nw} px wide but viewport × device scale is ${fmtNum(vp.width * vp.dsf, 1)}`;
      return r;
    }
    if (vp.dsf) return { k: vp.dsf, note: `device scale factor ${fmtNum(vp.dsf, 3)} (recorded)` };
    return { k: 1, assumed: true, note: '1 screenshot px = 1 CSS px, assumed (no viewport or device scale recorded)' };
  }

  function drawOverlay() {
    const overlay = $('overlay');
    overlay.replaceChildren();
    const d = S.detail;
    if (!d) return;
    const s = S.steps[S.pos.get(d.i)];
    if (S.tab !== 'action') { renderLegend(d, s, null); return; }
    const nw = img.naturalWidth; const nh = img.naturalHeight;
    if (!nw || !nh || (!s.click && !s.target)) { renderLegend(d, s, null); return; }
    const step = isObj(d.step) ? d.step : {};
    const sc = scaleInfo(step, nw);
    const res = { sc, oob: [] };
    const place = (p) => [p[0] * sc.k, p[1] * sc.k];
    const gr = isObj(step.grounding) ? step.grounding : {};
    const diag = gr.provenance === 'dom' || gr.provenance === 'diagnostic';
    if (s.click && s.target && s.dist > 0) {
      const [x1, y1] = place(s.target); const [x2, y2] = place(s.click);
      const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.setAttribute('viewBox', `0 0 ${nw} ${nh}`);
      svg.setAttribute('preserveAspectRatio', 'none');
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      for (const [k, v] of [['x1', x1], ['y1', y1], ['x2', x2], ['y2', y2]]) line.setAttribute(k, String(v));
      line.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(line);
      overlay.append(svg);
    }
    if (s.target) {
      const text = [s.label || 'target', typeof s.conf === 'number' ? fmtNum(s.conf) : ''].filter(Boolean).join(' · ');
      if (marker('target', place(s.target), nw, nh, text, diag)) res.oob.push('grounding target');
    }
    if (s.click && marker('click', place(s.click), nw, nh, null, false)) res.oob.push('click point');
    renderLegend(d, s, res);
  }

  /** Place a marker at image pixel (x, y); returns true when the point is outside the image. */
  function marker(kind, [x, y], nw, nh, text, diag) {
    const oob = !(x >= 0 && y >= 0 && x <= nw && y <= nh);
    const cx = Math.min(nw, Math.max(0, x)); const cy = Math.min(nh, Math.max(0, y));
    const m = h('div', { class: `mk${oob ? ' oob' : ''}${diag ? ' diag' : ''}` });
    m.style.left = `${(cx / nw) * 100}%`;
    m.style.top = `${(cy / nh) * 100}%`;
    m.append(h('div', { class: `mk-${kind}`, 'data-x': x, 'data-y': y }));
    if (text) {
      const lab = h('div', { class: 'mk-label', text });
      if (cx / nw > 0.6) lab.classList.add('left');
      if (cy / nh < 0.15) lab.classList.add('below');
      m.append(lab);
    }
    $('overlay').append(m);
    return oob;
  }

  function renderLegend(d, s, res) {
    const legend = $('legend');
    const parts = [];
    const kind = S.tab === 'post' ? 'post' : 'pre';
    const shot = d.shots && d.shots[kind];
    if (S.tab !== 'action') {
      parts.push(h('span', { text: `${kind === 'pre' ? 'Before' : 'After'} the action` }));
      if (shot && shot.path) parts.push(h('span', { class: 'muted mono', text: str(shot.path) }));
      if (img.naturalWidth && shot && shot.status === 'ok') parts.push(h('span', { class: 'muted', text: `${img.naturalWidth}×${img.naturalHeight}` }));
      legend.replaceChildren(...parts);
      return;
    }
    if (!s.click && !s.target) {
      parts.push(h('span', { class: 'muted', text: 'No click point or grounding target recorded for this step.' }));
      legend.replaceChildren(...parts);
      return;
    }
    if (s.click) parts.push(h('span', null, h('span', { class: 'sw click' }), `click ${pt(s.click)}`));
    if (s.target) parts.push(h('span', null, h('span', { class: 'sw target' }), `target “${s.label || ''}” ${pt(s.target)}`));
    if (typeof s.dist === 'number') parts.push(h('span', { class: s.far ? 'warn' : '', text: `${fmtNum(s.dist, 1)} px apart${s.far ? ' — far from target' : ''}` }));
    if (shot && shot.status !== 'ok') parts.push(h('span', { class: 'muted', text: 'no pre-action screenshot to draw on' }));
    if (res) {
      if (res.oob.length) parts.push(h('span', { class: 'bad', text: `${res.oob.join(' and ')} outside the screenshot: check the coordinate space / scale` }));
      if (res.sc.warn) parts.push(h('span', { class: 'warn', text: res.sc.warn }));
      parts.push(h('span', { class: res.sc.assumed ? 'muted warn-assumed' : 'muted', text: res.sc.note }));
    }
    const sel = h('select', { id: 'scale', 'aria-label': 'Coordinate scale', title: 'Screenshot pixels per recorded coordinate unit' },
      ...['auto', '0.5', '1', '1.25', '1.5', '2', '3'].map((v) => h('option', { value: v, text: v === 'auto' ? 'scale: auto' : `scale ${v}×` })));
    sel.value = S.scale;
    sel.addEventListener('change', () => { S.scale = sel.value; drawOverlay(); });
    parts.push(sel);
    legend.replaceChildren(...parts);
  }

  // ── navigation ───────────────────────────────────────────────────────────
  function move(delta) {
    if (!S.view.length) return;
    const c = viewCursor();
    let t;
    if (c < 0) t = 0;
    else if (Number.isInteger(c)) t = c + delta;
    else t = delta > 0 ? Math.ceil(c) : Math.floor(c);
    t = Math.max(0, Math.min(S.view.length - 1, t));
    select(S.steps[S.view[t]].i, { keepTab: true });
  }

  function jump(pred, dir) {
    if (!S.view.length) return;
    const c = viewCursor();
    const n = S.view.length;
    let t = c < 0 ? (dir > 0 ? -1 : n) : Number.isInteger(c) ? c : (dir > 0 ? Math.floor(c) : Math.ceil(c));
    for (let k = 0; k < n; k++) {
      t += dir;
      if (t < 0 || t >= n) return; // no wrap-around: stop at the ends
      if (pred(S.steps[S.view[t]])) { select(S.steps[S.view[t]].i, { keepTab: true }); return; }
    }
  }

  function toggleDialog(id) {
    const dlg = $(id);
    if (dlg.open) dlg.close(); else if (id === 'info') openRunInfo(); else dlg.showModal();
  }

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const typing = t instanceof HTMLElement && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA');
    if (typing) {
      if (e.key === 'Escape' || (e.key === 'Enter' && t.id === 'search')) {
        e.preventDefault(); // Escape would clear a search box: leave it, keep the filter
        t.blur(); $('list').focus();
      }
      return;
    }
    if ($('help').open || $('info').open) {
      if (e.key === '?') { $('help').close(); e.preventDefault(); }
      return;
    }
    let handled = true;
    switch (e.key) {
      case 'j': case 'ArrowDown': move(1); break;
      case 'k': case 'ArrowUp': move(-1); break;
      case 'n': jump(isFailure, 1); break;
      case 'N': jump(isFailure, -1); break;
      case ']': jump(isSuspect, 1); break;
      case '[': jump(isSuspect, -1); break;
      case 'g': case 'Home': if (S.view.length) select(S.steps[S.view[0]].i); break;
      case 'G': case 'End': if (S.view.length) select(S.steps[S.view[S.view.length - 1]].i); break;
      case '1': setTab('pre'); break;
      case '2': setTab('action'); break;
      case '3': setTab('post'); break;
      case '/': $('search').focus(); $('search').select(); break;
      case '?': toggleDialog('help'); break;
      case 'i': toggleDialog('info'); break;
      case 'f': $('f-status').value = $('f-status').value === 'failures' ? 'all' : 'failures'; readFilters(); break;
      case 'z': S.actual = !S.actual; layoutShot(); break;
      case 'u': if (source.runs) location.href = source.runs; else handled = false; break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  // ── wiring ───────────────────────────────────────────────────────────────
  $('list').addEventListener('scroll', () => requestAnimationFrame(renderList), { passive: true });
  $('list-rows').addEventListener('click', (e) => {
    const row = e.target instanceof Element ? e.target.closest('.row') : null;
    if (row && row.dataset.i) select(Number(row.dataset.i), { keepTab: true });
  });
  $('strip').addEventListener('click', (e) => {
    const c = $('strip'); const n = S.steps.length; if (!n) return;
    const p = Math.min(n - 1, Math.max(0, Math.floor((e.offsetX / c.clientWidth) * n)));
    select(S.steps[p].i, { keepTab: true });
  });
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setTab(b.dataset.tab));
  let searchTimer = null;
  $('search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(readFilters, 80); });
  for (const id of ['f-status', 'f-class', 'f-lowconf', 'f-conf', 'f-far']) $(id).addEventListener('change', readFilters);
  $('btn-next-fail').addEventListener('click', () => jump(isFailure, 1));
  $('btn-help').addEventListener('click', () => toggleDialog('help'));
  $('btn-info').addEventListener('click', () => toggleDialog('info'));
  for (const b of document.querySelectorAll('.dialog-close')) b.addEventListener('click', () => b.closest('dialog').close());
  $('shot').addEventListener('dblclick', () => { S.actual = !S.actual; layoutShot(); });
  window.addEventListener('hashchange', () => {
    ownHash = location.hash;
    const link = parseHash();
    if (link.tab && link.tab !== S.tab) setTab(link.tab);
    if (link.step !== null && link.step !== S.sel && S.pos.has(link.step)) select(link.step, { keepTab: true });
  });
  if (typeof ResizeObserver === 'function') {
    new ResizeObserver(() => { layoutShot(); renderList(); drawStrip(); }).observe($('stage'));
    new ResizeObserver(() => drawStrip()).observe($('strip'));
  }
  window.addEventListener('resize', () => { layoutShot(); renderList(); drawStrip(); });
  if (source.runs) {
    // Opened from the run list: a way back, in the top bar and as a key.
    document.querySelector('.topbar').prepend(h('a', { id: 'runs-link', class: 'runs-link', href: source.runs, title: 'All runs (u)', text: '← Runs' }));
    document.querySelector('#help table.keys').append(h('tr', null, h('td', null, h('kbd', { text: 'u' })), h('td', { text: 'back to the run list' })));
  }
  const link = parseHash();
  if (link.tab) S.tab = link.tab;
  setTabButtons();
  poll();
}());
