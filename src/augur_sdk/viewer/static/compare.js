/* augur view: two runs side by side, at their aligned steps. Vanilla JS, no build step.
 *
 * The comparison (aligned rows, the differences of each pair, a summary per step) is inlined
 * in the page (<script id="augur-compare">); an exported file carries it, with every step's
 * details and screenshots, in <script id="augur-data">. A served page fetches a step's record
 * and screenshots from its run's own API (<base>api/step/N, <base>api/shot/N/KIND).
 * Everything from a bundle is untrusted: text is only ever set with textContent / Text nodes,
 * and the only URLs used are the server's own, checked against fixed patterns.
 */
'use strict';
(function () {
  const ROW_H = 28;
  const OVERSCAN = 10;
  const DETAIL_CACHE = 64;
  const TABS = ['pre', 'action', 'post'];
  const KIND = ['same', 'changed', 'only_a', 'only_b'];
  const SIDES = ['a', 'b'];
  const DIVERGING = new Set(['status', 'action', 'target', 'click', 'verdict']);
  const FLAG = { status: 'st', action: 'act', target: 'tgt', click: 'px', verdict: 'vd', cost: '$', duration: 't' };
  const STATUS_ICON = { succeeded: '✓', failed: '✗', skipped: '–', recovered: '↺', running: '●', pending: '○' };

  const $ = (id) => document.getElementById(id);
  const h = window.augurDom.h;
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const str = (v) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const fmtNum = (v, d = 1) => (typeof v === 'number' && isFinite(v) ? String(Math.round(v * 10 ** d) / 10 ** d) : '');
  const pt = (p) => (Array.isArray(p) && p.length === 2 ? `(${fmtNum(p[0])}, ${fmtNum(p[1])})` : '');

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  // ── data ─────────────────────────────────────────────────────────────────
  const embedded = $('augur-data');
  let data;
  let embeddedDetails = null;
  if (embedded) {
    const all = JSON.parse(embedded.textContent);
    data = all.payload;
    embeddedDetails = isObj(all.details) ? all.details : {};
  } else {
    data = JSON.parse($('augur-compare').textContent);
  }
  const safeBase = (b) => (typeof b === 'string' && /^\/runs\/[^\s"'<>?#\\]+\/$/.test(b) ? b : null);
  const side = {};
  for (const k of SIDES) {
    const meta = isObj(data[k]) ? data[k] : {};
    side[k] = Object.assign({}, meta, { key: k, base: embedded ? null : safeBase(meta.base), tags: isObj(meta.tags) ? meta.tags : {} });
  }
  const steps = {
    a: new Map((Array.isArray(data.steps_a) ? data.steps_a : []).map((s) => [s.index, s])),
    b: new Map((Array.isArray(data.steps_b) ? data.steps_b : []).map((s) => [s.index, s])),
  };
  const rows = (Array.isArray(data.rows) ? data.rows : []).map((r, pos) => {
    const fields = Array.isArray(r[3]) ? r[3].map(str) : [];
    const kind = KIND[r[2]] || 'same';
    return {
      pos, kind, fields,
      a: Number.isInteger(r[0]) ? r[0] : null,
      b: Number.isInteger(r[1]) ? r[1] : null,
      diverges: kind === 'only_a' || kind === 'only_b' || fields.some((f) => DIVERGING.has(f)),
    };
  });
  const diffs = isObj(data.diffs) ? data.diffs : {};
  const first = Number.isInteger(data.first) ? data.first : null;
  // For a row one run has no step at: the step that run goes on with (context to compare).
  const next = { a: new Array(rows.length).fill(null), b: new Array(rows.length).fill(null) };
  for (const k of SIDES) {
    let upcoming = null;
    for (let p = rows.length - 1; p >= 0; p--) {
      if (rows[p][k] !== null) upcoming = rows[p][k];
      next[k][p] = upcoming;
    }
  }

  const S = { sel: null, tab: 'action', diffOnly: false, view: [], viewPos: new Map(), seq: 0, cache: { a: new Map(), b: new Map() } };

  // ── step details ─────────────────────────────────────────────────────────
  function detail(k, index) {
    const cache = S.cache[k];
    if (cache.has(index)) return cache.get(index);
    let promise;
    if (embeddedDetails) {
      const found = isObj(embeddedDetails[k]) ? embeddedDetails[k][String(index)] : null;
      promise = found ? Promise.resolve(found) : Promise.reject(new Error(`no details of step ${index}`));
    } else if (side[k].base) {
      promise = fetch(`${side[k].base}api/step/${index}`, { cache: 'no-store', credentials: 'same-origin' }).then((r) => {
        if (!r.ok) throw new Error(`${r.status} for step ${index}`);
        return r.json();
      });
    } else {
      promise = Promise.reject(new Error('no source for step details'));
    }
    cache.set(index, promise);
    promise.catch(() => cache.delete(index));
    if (cache.size > DETAIL_CACHE) cache.delete(cache.keys().next().value);
    return promise;
  }

  function shotUrl(k, d, kind) {
    const shot = isObj(d) && isObj(d.shots) ? d.shots[kind] : null;
    if (!isObj(shot) || shot.status !== 'ok' || typeof shot.url !== 'string') return { shot, url: null };
    if (embeddedDetails) return { shot, url: /^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/=]+$/.test(shot.url) ? shot.url : null };
    const ok = side[k].base && /^api\/shot\/\d+\/(pre|post)(\?v=[0-9a-f-]+)?$/.test(shot.url);
    return { shot, url: ok ? side[k].base + shot.url : null };
  }

  // ── the top bar ──────────────────────────────────────────────────────────
  function runName(s) {
    return str(s.run_id) || str(s.path).split('/').pop() || s.key.toUpperCase();
  }

  function renderTop() {
    for (const k of SIDES) {
      const s = side[k];
      $(`side-${k}`).textContent = runName(s);
      $(`side-${k}`).title = str(s.path);
      const status = str(s.status) || 'no status';
      $(`badge-${k}`).textContent = status;
      $(`badge-${k}`).className = `badge ${status.split(' ')[0]}`;
    }
    const c = isObj(data.counts) ? data.counts : {};
    const facts = [];
    const fact = (label, value, cls) => facts.push(h('span', { class: cls || null }, `${label} `, h('b', { text: String(value) })));
    fact('steps', `${str(side.a.steps)} vs ${str(side.b.steps)}`);
    fact('pairs', (c.same || 0) + (c.changed || 0));
    if (c.changed) fact('differ', c.changed);
    if (c.only_a) fact('only in A', c.only_a);
    if (c.only_b) fact('only in B', c.only_b);
    facts.push(h('span', { class: data.same ? 'same-runs' : 'differ-runs', text: data.same ? 'same steps, same outcome' : 'the runs differ' }));
    $('cmp-facts').replaceChildren(...facts);
    document.title = `${data.same ? 'same' : 'differ'} · ${runName(side.a)} vs ${runName(side.b)} · augur view`;
    const notes = [];
    for (const k of SIDES) {
      const s = side[k];
      if (s.status === 'running') notes.push(`Run ${k.toUpperCase()} is still being written: this comparison is a snapshot (reload for newer steps). `);
      if (s.status === 'unfinished') notes.push(`Run ${k.toUpperCase()} did not finish (its producer stopped). `);
      for (const p of Array.isArray(s.problems) ? s.problems : []) notes.push(`${k.toUpperCase()}: ${str(p)}. `);
    }
    if (data.screens === 'exact') notes.push('Screenshots compared by exact digest (Pillow is not installed): near-identical screens do not count as the same. ');
    if (notes.length) {
      $('banner').className = 'banner warn';
      $('banner').replaceChildren(...notes.map((n) => document.createTextNode(n)));
      $('banner').hidden = false;
    }
    $('btn-first').disabled = first === null;
    if (first === null) $('btn-first').title = 'The runs do not diverge';
  }

  // ── the aligned list (virtualized) ───────────────────────────────────────
  function rebuildView() {
    S.view = [];
    S.viewPos = new Map();
    for (const r of rows) {
      if (S.diffOnly && r.kind === 'same') continue;
      S.viewPos.set(r.pos, S.view.length);
      S.view.push(r.pos);
    }
    $('list-count').textContent = S.view.length === rows.length ? `${rows.length} rows` : `${S.view.length} of ${rows.length} rows`;
    renderList();
  }

  function describe(s) {
    if (!s) return '';
    const what = str(s.action) || 'step';
    if (s.target) return `${what} “${str(s.target)}”`;
    if (s.intent) return `${what}: ${str(s.intent)}`;
    return what;
  }

  function indexCell(k, r) {
    const index = r[k];
    if (index === null) return h('span', { class: 'ix none', text: '·' });
    const s = steps[k].get(index);
    const status = s ? str(s.status) : '';
    return h('span', { class: 'ix' }, String(index), h('span', { class: `st ${status}`, text: STATUS_ICON[status] || '' }));
  }

  function makeRow(r) {
    const s = steps.a.get(r.a) || steps.b.get(r.b);
    let flags;
    if (r.kind === 'only_a' || r.kind === 'only_b') flags = [h('span', { class: 'div', text: r.kind === 'only_a' ? 'A only' : 'B only' })];
    else flags = r.fields.map((f) => h('span', { class: DIVERGING.has(f) ? 'div' : null, title: `${f} differs`, text: FLAG[f] || f }));
    const cls = `crow ${r.kind}${r.diverges ? ' diverges' : ''}${r.pos === first ? ' first' : ''}${r.pos === S.sel ? ' sel' : ''}`;
    return h('div', { class: cls, role: 'option', 'aria-selected': r.pos === S.sel ? 'true' : 'false', 'data-row': r.pos, 'data-kind': r.kind },
      indexCell('a', r), indexCell('b', r), h('span', { class: 'tx', text: describe(s) }), h('span', { class: 'fl' }, ...flags));
  }

  function renderList() {
    const list = $('list');
    $('list-spacer').style.height = `${S.view.length * ROW_H}px`;
    const top = list.scrollTop;
    const from = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const to = Math.min(S.view.length, Math.ceil((top + list.clientHeight) / ROW_H) + OVERSCAN);
    const kids = [];
    for (let v = from; v < to; v++) kids.push(makeRow(rows[S.view[v]]));
    $('list-rows').style.transform = `translateY(${from * ROW_H}px)`;
    $('list-rows').replaceChildren(...kids);
  }

  function ensureVisible(pos) {
    const v = S.viewPos.get(pos);
    if (v === undefined) return;
    const list = $('list');
    const y = v * ROW_H;
    if (y < list.scrollTop) list.scrollTop = y;
    else if (y + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = y + ROW_H - list.clientHeight;
  }

  // ── the selected row ─────────────────────────────────────────────────────
  function renderRowHead(r) {
    const parts = [`Row ${r.pos + 1} of ${rows.length}: `];
    if (r.a !== null && r.b !== null) parts.push(`A step ${r.a} ↔ B step ${r.b}`);
    else if (r.a !== null) parts.push(`A step ${r.a}, only in A`);
    else parts.push(`B step ${r.b}, only in B`);
    if (r.pos === first) parts.push(' · first divergence');
    $('row-title').textContent = parts.join('');
    const chips = [];
    if (r.kind === 'same') chips.push(h('span', { class: 'same', text: 'The same in both runs' }));
    else if (r.kind === 'only_a' || r.kind === 'only_b') {
      const mine = r.kind === 'only_a' ? 'A' : 'B';
      const other = mine === 'A' ? 'b' : 'a';
      const cont = next[other][r.pos];
      chips.push(h('span', { class: 'dif div', text: `Only run ${mine} has this step` }));
      chips.push(h('span', { class: 'note', text: cont !== null ? `run ${other.toUpperCase()} goes on with its step ${cont}, shown in the dashed frame` : `run ${other.toUpperCase()} has no more steps` }));
    } else {
      for (const d of Array.isArray(diffs[String(r.pos)]) ? diffs[String(r.pos)] : []) {
        const field = str(d.field);
        const text = (field === 'click' || field === 'duration' || field === 'cost') && d.note
          ? `${field}: ${str(d.note)}` : `${field}: ${str(d.a) || '—'} → ${str(d.b) || '—'}${d.note ? ` (${str(d.note)})` : ''}`;
        chips.push(h('span', { class: `dif${DIVERGING.has(field) ? ' div' : ''}`, 'data-field': field, text }));
      }
    }
    $('row-diffs').replaceChildren(...chips);
  }

  function kvList(pairs, marked) {
    const dl = h('dl', { class: 'kv' });
    for (const [label, value, field] of pairs) {
      if (value === null || value === undefined || value === '') continue;
      const mark = field && marked.has(field) ? ` diff${DIVERGING.has(field) ? ' div' : ''}` : '';
      dl.append(h('dt', { text: label }), h('dd', { class: mark ? mark.trim() : null, 'data-field': field || null, text: str(value) }));
    }
    return dl;
  }

  function paneFacts(s, marked) {
    const params = isObj(s.params) ? Object.entries(s.params).map(([k, v]) => `${k}=${str(v)}`).join(' ') : '';
    const outcome = s.failure_class ? `${str(s.status)} (${str(s.failure_class)})` : str(s.status);
    const parts = [];
    if (s.error) parts.push(h('div', { class: 'errbox', text: str(s.error) }));
    parts.push(kvList([
      ['status', outcome, 'status'],
      ['action', [str(s.action), params].filter(Boolean).join('  '), 'action'],
      ['target', s.target, 'target'],
      ['click', pt(s.click), 'click'],
      ['verdict', [str(s.verdict), s.verdict_reason ? `— ${str(s.verdict_reason)}` : ''].filter(Boolean).join(' '), 'verdict'],
      ['duration', fmtMs(s.duration_ms), 'duration'],
      ['cost', typeof s.cost_usd === 'number' ? `$${s.cost_usd.toFixed(4)}` : (typeof s.tokens === 'number' ? `${s.tokens} tokens` : ''), 'cost'],
      ['intent', s.intent, null],
    ], marked));
    return parts;
  }

  function showSide(k, r, seq) {
    const pane = $(`pane-${k}`);
    const head = pane.querySelector('.pane-head');
    const facts = pane.querySelector('.pane-facts');
    let index = r[k];
    let context = false;
    if (index === null) { index = next[k][r.pos]; context = true; }
    pane.classList.toggle('context', context);
    pane.classList.toggle('missing-side', context && index === null);
    pane.dataset.step = index === null ? '' : String(index);
    pane.dataset.context = context ? '1' : '0';
    pane.dataset.tab = S.tab;
    pane.dataset.loaded = '0';
    const tag = h('span', { class: `side-tag ${k}`, text: k.toUpperCase() });
    const overlay = pane.querySelector('.overlay');
    overlay.replaceChildren();
    if (index === null) {
      head.replaceChildren(tag, h('span', { class: 'title', text: `Run ${k.toUpperCase()} has no step here, and no more steps` }));
      facts.replaceChildren();
      showMsg(pane, '', 'No step', `Run ${k.toUpperCase()} ended before this point.`);
      return;
    }
    const s = steps[k].get(index) || { index };
    const title = context ? `No counterpart: run ${k.toUpperCase()} goes on with step ${index}, ${describe(s)}` : `Step ${index} · ${describe(s)}`;
    const kids = [tag, h('span', { class: 'title', text: title })];
    if (s.status) kids.push(h('span', { class: `pill ${str(s.status)}`, text: str(s.status) }));
    if (side[k].base) {
      const a = h('a', { text: 'open run ›', title: 'This step in the run\'s step debugger' });
      a.href = `${side[k].base}#step=${index}&tab=${S.tab}`;
      kids.push(a);
    }
    head.replaceChildren(...kids);
    facts.replaceChildren(...paneFacts(s, context ? new Set() : new Set(r.fields)));
    detail(k, index).then((d) => {
      if (seq !== S.seq) return;
      drawShot(pane, k, d, s);
    }, (err) => {
      if (seq !== S.seq) return;
      showMsg(pane, 'missing', 'Step not available', err && err.message ? err.message : String(err));
    });
  }

  function showMsg(pane, cls, title, text) {
    pane.querySelector('.shot-wrap').hidden = true;
    const msg = pane.querySelector('.shot-msg');
    msg.className = `shot-msg${cls ? ` ${cls}` : ''}`;
    msg.replaceChildren(h('strong', { text: title }), document.createTextNode(text));
    msg.hidden = false;
    pane.dataset.loaded = '1';
  }

  function drawShot(pane, k, d, s) {
    const kind = S.tab === 'post' ? 'post' : 'pre';
    const { shot, url } = shotUrl(k, d, kind);
    const wrap = pane.querySelector('.shot-wrap');
    const img = pane.querySelector('img');
    if (!url) {
      img.removeAttribute('src');
      const record = isObj(d) && isObj(d.step) ? d.step : {};
      if (isObj(shot) && shot.status === 'missing') showMsg(pane, 'missing', 'Screenshot missing', `${str(shot.path)} is not in the bundle.`);
      else if (record.status === 'skipped') showMsg(pane, '', 'Not captured', 'This step was skipped: no screenshot was taken.');
      else showMsg(pane, '', 'Not captured', `No ${kind === 'pre' ? 'pre-action' : 'post-action'} screenshot was recorded for this step.`);
      return;
    }
    pane.querySelector('.shot-msg').hidden = true;
    wrap.hidden = false;
    img.alt = `${kind} screenshot of run ${k.toUpperCase()} step ${d.i}`;
    const done = () => {
      layoutShot(pane);
      drawOverlay(pane, k, d, s);
      pane.dataset.loaded = '1';
    };
    if (img.getAttribute('src') === url && img.complete && img.naturalWidth) { done(); return; }
    img.onload = () => { if (img.getAttribute('src') === url) done(); };
    img.onerror = () => showMsg(pane, 'missing', 'Screenshot could not be shown', 'The file is not a readable image.');
    img.src = url;
  }

  function layoutShot(pane) {
    const img = pane.querySelector('img');
    const nw = img.naturalWidth; const nh = img.naturalHeight;
    if (!nw || !nh) return;
    const stage = pane.querySelector('.stage');
    const cs = getComputedStyle(stage);
    const aw = stage.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const ah = stage.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
    const f = Math.max(0.01, Math.min(aw / nw, ah / nh));
    const wrap = pane.querySelector('.shot-wrap');
    wrap.style.width = `${nw * f}px`;
    wrap.style.height = `${nh * f}px`;
  }

  function num(v) {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseFloat(v) : NaN;
    return isFinite(n) && n > 0 ? n : null;
  }

  /** Screenshot pixels per recorded unit: the step debugger's rule (see docs/viewer.md). */
  function scaleOf(k, record, nw) {
    const action = isObj(record.action) ? record.action : {};
    const space = str(action.coordinate_space);
    if (space === 'screenshot_px' || space === 'device_px') return 1;
    const params = isObj(action.params) ? action.params : {};
    const tags = side[k].tags;
    const vp = isObj(params.viewport) ? params.viewport : {};
    let width = num(vp.width);
    if (!width && typeof tags.viewport === 'string') {
      const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(tags.viewport);
      if (m) width = Number(m[1]);
    }
    if (!width) width = num(tags.viewport_width);
    if (width) return nw / width;
    return num(vp.device_scale_factor) || num(vp.dpr) || num(params.device_scale_factor) || num(params.dpr)
      || num(tags.device_scale_factor) || num(tags.dpr) || 1;
  }

  function drawOverlay(pane, k, d, s) {
    const overlay = pane.querySelector('.overlay');
    overlay.replaceChildren();
    if (S.tab !== 'action') return;
    const img = pane.querySelector('img');
    const nw = img.naturalWidth; const nh = img.naturalHeight;
    const click = Array.isArray(s.click) ? s.click : null;
    const target = Array.isArray(s.target_point) ? s.target_point : null;
    if (!nw || !nh || (!click && !target)) return;
    const f = scaleOf(k, isObj(d.step) ? d.step : {}, nw);
    const place = (p) => [p[0] * f, p[1] * f];
    if (click && target) {
      const [x1, y1] = place(target); const [x2, y2] = place(click);
      const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.setAttribute('viewBox', `0 0 ${nw} ${nh}`);
      svg.setAttribute('preserveAspectRatio', 'none');
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      for (const [a, v] of [['x1', x1], ['y1', y1], ['x2', x2], ['y2', y2]]) line.setAttribute(a, String(v));
      line.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(line);
      overlay.append(svg);
    }
    if (target) marker(overlay, 'target', place(target), nw, nh, s.target ? str(s.target) : 'target');
    if (click) marker(overlay, 'click', place(click), nw, nh, null);
  }

  function marker(overlay, kind, [x, y], nw, nh, text) {
    const oob = !(x >= 0 && y >= 0 && x <= nw && y <= nh);
    const cx = Math.min(nw, Math.max(0, x)); const cy = Math.min(nh, Math.max(0, y));
    const m = h('div', { class: `mk${oob ? ' oob' : ''}` });
    m.style.left = `${(cx / nw) * 100}%`;
    m.style.top = `${(cy / nh) * 100}%`;
    m.append(h('div', { class: `mk-${kind}`, 'data-x': x, 'data-y': y }));
    if (text) {
      const lab = h('div', { class: 'mk-label', text });
      if (cx / nw > 0.6) lab.classList.add('left');
      if (cy / nh < 0.15) lab.classList.add('below');
      m.append(lab);
    }
    overlay.append(m);
  }

  let ownHash = '';
  function updateHash() {
    const hash = `#row=${S.sel}&tab=${S.tab}`;
    if (location.hash !== hash) {
      ownHash = hash;
      history.replaceState(null, '', hash);
    }
  }

  function parseHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    const row = /^\d+$/.test(p.get('row') || '') ? Number(p.get('row')) : null;
    const tab = TABS.includes(p.get('tab')) ? p.get('tab') : null;
    return { row: row !== null && row < rows.length ? row : null, tab };
  }

  function select(pos) {
    if (pos === null || pos < 0 || pos >= rows.length) return;
    S.sel = pos;
    S.seq += 1;
    const r = rows[pos];
    updateHash();
    ensureVisible(pos);
    renderList();
    renderRowHead(r);
    for (const k of SIDES) showSide(k, r, S.seq);
    document.body.dataset.row = String(pos);
    // Warm the next row's details while this one is looked at.
    const after = rows[pos + 1];
    if (after) for (const k of SIDES) { const i = after[k] !== null ? after[k] : next[k][pos + 1]; if (i !== null) detail(k, i).catch(() => {}); }
  }

  function setTab(tab) {
    S.tab = tab;
    for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-selected', b.dataset.tab === tab ? 'true' : 'false');
    if (S.sel !== null) select(S.sel);
  }

  // ── navigation ───────────────────────────────────────────────────────────
  function cursor() {
    if (S.sel === null) return -1;
    if (S.viewPos.has(S.sel)) return S.viewPos.get(S.sel);
    let v = 0;
    while (v < S.view.length && S.view[v] < S.sel) v++;
    return v - 0.5;
  }

  function move(delta) {
    if (!S.view.length) return;
    const c = cursor();
    let t = c < 0 ? 0 : Number.isInteger(c) ? c + delta : (delta > 0 ? Math.ceil(c) : Math.floor(c));
    t = Math.max(0, Math.min(S.view.length - 1, t));
    select(S.view[t]);
  }

  function jump(dir) {
    const c = cursor();
    let v = c < 0 ? (dir > 0 ? -1 : S.view.length) : Number.isInteger(c) ? c : (dir > 0 ? Math.floor(c) : Math.ceil(c));
    for (;;) {
      v += dir;
      if (v < 0 || v >= S.view.length) return;
      if (rows[S.view[v]].diverges) { select(S.view[v]); return; }
    }
  }

  function setDiffOnly(on) {
    S.diffOnly = on;
    $('f-diff').checked = on;
    rebuildView();
    if (S.sel !== null && !S.viewPos.has(S.sel) && S.view.length) select(S.view[Math.max(0, Math.ceil(cursor()))] ?? S.view[0]);
    else if (S.sel !== null) ensureVisible(S.sel);
  }

  const runsHref = typeof data.runs === 'string' && /^\/(#[^\s"'<>]*)?$/.test(data.runs) && !embedded ? data.runs : null;

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA') && t.type !== 'checkbox') return;
    if ($('help').open) {
      if (e.key === '?') { $('help').close(); e.preventDefault(); }
      return;
    }
    let handled = true;
    switch (e.key) {
      case 'j': case 'ArrowDown': move(1); break;
      case 'k': case 'ArrowUp': move(-1); break;
      case 'n': jump(1); break;
      case 'N': jump(-1); break;
      case 'd': if (first !== null) { if (!S.viewPos.has(first)) setDiffOnly(false); select(first); } break;
      case 'g': case 'Home': if (S.view.length) select(S.view[0]); break;
      case 'G': case 'End': if (S.view.length) select(S.view[S.view.length - 1]); break;
      case '1': setTab('pre'); break;
      case '2': setTab('action'); break;
      case '3': setTab('post'); break;
      case 'f': setDiffOnly(!S.diffOnly); break;
      case '?': $('help').showModal(); break;
      case 'u': if (runsHref) location.href = runsHref; else handled = false; break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  $('list').addEventListener('scroll', () => requestAnimationFrame(renderList), { passive: true });
  $('list-rows').addEventListener('click', (e) => {
    const row = e.target instanceof Element ? e.target.closest('.crow') : null;
    if (row && row.dataset.row) select(Number(row.dataset.row));
  });
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setTab(b.dataset.tab));
  $('f-diff').addEventListener('change', () => setDiffOnly($('f-diff').checked));
  $('btn-first').addEventListener('click', () => { if (first !== null) { if (!S.viewPos.has(first)) setDiffOnly(false); select(first); } });
  $('btn-help').addEventListener('click', () => $('help').showModal());
  for (const b of document.querySelectorAll('.dialog-close')) b.addEventListener('click', () => b.closest('dialog').close());
  window.addEventListener('hashchange', () => {
    if (location.hash === ownHash) return;
    const link = parseHash();
    if (link.tab && link.tab !== S.tab) S.tab = link.tab;
    if (link.row !== null) { if (!S.viewPos.has(link.row)) setDiffOnly(false); select(link.row); } else setTab(S.tab);
  });
  const relayout = () => {
    renderList();
    for (const k of SIDES) {
      const pane = $(`pane-${k}`);
      if (!pane.querySelector('.shot-wrap').hidden) layoutShot(pane);
    }
  };
  if (typeof ResizeObserver === 'function') new ResizeObserver(relayout).observe(document.querySelector('.cmp-panes'));
  window.addEventListener('resize', relayout);
  if (runsHref) {
    document.querySelector('.topbar').prepend(h('a', { id: 'runs-link', class: 'runs-link', href: runsHref, title: 'All runs (u)', text: '← Runs' }));
    document.querySelector('#help table.keys').append(h('tr', null, h('td', null, h('kbd', { text: 'u' })), h('td', { text: 'back to the run list' })));
  }

  // ── start ────────────────────────────────────────────────────────────────
  renderTop();
  const link = parseHash();
  S.tab = link.tab || 'action';
  for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-selected', b.dataset.tab === S.tab ? 'true' : 'false');
  rebuildView();
  if (!rows.length) {
    $('row-title').textContent = 'Neither run has any steps.';
  } else {
    select(link.row !== null ? link.row : first !== null ? first : 0);
  }
  document.body.dataset.ready = '1';
}());
