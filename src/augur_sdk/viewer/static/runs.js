/* augur view DIR: the run list. Vanilla JS, no dependencies, no build step.
 *
 * The list comes inlined in the page (<script id="augur-runs">), then from api/runs, asked
 * again every second while a run is running (every 5 s otherwise, so new runs show up).
 * Run ids, tenants and client names come from the bundles: untrusted, set as text only.
 *
 * An orchestrator's workers come right after it in the list (the server orders it: parent_key,
 * depth, children); they are drawn indented under it, and the orchestrator's row folds them
 * (its ▾ button, or ← / → on the focused row).
 */
'use strict';
(function () {
  const POLL_RUNNING_MS = 1000;
  const POLL_IDLE_MS = 5000;
  const POLL_ERROR_MS = 3000;

  const $ = (id) => document.getElementById(id);

  const h = window.augurDom.h;

  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const str = (v) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const two = (n) => String(n).padStart(2, '0');

  function parseTime(iso) {
    if (typeof iso !== 'string') return null;
    const t = Date.parse(iso);
    return isFinite(t) ? t : null;
  }

  function fmtTime(iso) {
    const t = parseTime(iso);
    if (t === null) return str(iso);
    const d = new Date(t);
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const m = Math.floor(ms / 60000);
    if (m < 60) return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  /** Only the server's own run pages are ever navigated to. */
  const safeHref = (href) => (typeof href === 'string' && /^\/runs\/[^\s"'<>]+\/$/.test(href) ? href : null);

  const S = { data: null, q: '', status: 'all', pending: null, folded: new Set() };
  const initial = $('augur-runs');
  try { S.data = initial ? JSON.parse(initial.textContent) : null; } catch (err) { S.data = null; }
  S.pending = new URLSearchParams(location.hash.replace(/^#/, '')).get('run');

  function matches(r) {
    if (S.status !== 'all' && r.status !== S.status) return false;
    if (!S.q) return true;
    const c = isObj(r.client) ? r.client : {};
    const hay = [r.run_id, r.dir, r.tenant, c.name, c.version, r.status, r.session_status].map(str).join('\n').toLowerCase();
    return S.q.split(/\s+/).every((term) => !term || hay.includes(term));
  }

  /** The runs to show: those that match the filters, with the runs above them in the tree
   * (a matching worker is shown under its orchestrator); none under a folded run. */
  function visibleRuns(runs) {
    const byKey = new Map(runs.map((r) => [r.key, r]));
    const up = (r) => (typeof r.parent_key === 'string' ? byKey.get(r.parent_key) : undefined);
    const keep = new Set();
    for (const r of runs) {
      if (!matches(r)) continue;
      for (let at = r, n = 0; at && !keep.has(at.key) && n < 64; at = up(at), n += 1) keep.add(at.key);
    }
    const folded = (r) => { for (let at = up(r), n = 0; at && n < 64; at = up(at), n += 1) if (S.folded.has(at.key)) return true; return false; };
    return runs.filter((r) => keep.has(r.key) && !folded(r));
  }

  /** Each run's workers, by the run's key. */
  function workersByKey(runs) {
    const kids = new Map();
    for (const x of runs) if (typeof x.parent_key === 'string') (kids.get(x.parent_key) || kids.set(x.parent_key, []).get(x.parent_key)).push(x);
    return kids;
  }

  /** Status counts of a run's workers (and theirs). */
  function workerFacts(r, kids) {
    const counts = { all: 0, running: 0, failed: 0 };
    const walk = (key, n) => { for (const x of kids.get(key) || []) { counts.all += 1; if (x.status === 'running') counts.running += 1; if (x.status === 'failed') counts.failed += 1; if (n < 64) walk(x.key, n + 1); } };
    walk(r.key, 0);
    return counts;
  }

  function statusCell(r) {
    const td = h('td', { class: 'st' }, h('span', { class: `badge ${str(r.status)}`, text: str(r.status) }));
    if (r.status === 'running' && r.live === 'unfinished') {
      td.append(h('span', { class: 'tag', title: 'live.json names a process that is gone: the producer stopped without closing the bundle', text: 'unfinished' }));
    } else if (r.stale) {
      td.append(h('span', { class: 'tag', title: 'no new data for two minutes', text: 'stale' }));
    }
    if (r.status !== 'running' && r.session_status && r.session_status !== 'succeeded' && r.session_status !== r.status) {
      td.append(h('span', { class: 'muted dir', text: str(r.session_status) }));
    }
    return td;
  }

  function treeCell(r, kids) {
    const depth = typeof r.depth === 'number' && r.depth > 0 ? Math.min(r.depth, 8) : 0;
    const n = typeof r.children === 'number' ? r.children : 0;
    const lead = [];
    if (n) {
      const open = !S.folded.has(r.key);
      lead.push(h('button', { type: 'button', class: 'fold', tabindex: '-1', 'aria-expanded': open ? 'true' : 'false', title: open ? 'Fold its workers (←)' : 'Show its workers (→)', text: open ? '▾' : '▸' }));
    } else if (depth) lead.push(h('span', { class: 'branch', 'aria-hidden': 'true', text: '└' }));
    const tail = [];
    if (r.orchestrator) tail.push(h('span', { class: 'tag orch', title: 'an orchestrator: its workers are the runs indented under it', text: 'orchestrator' }));
    if (n) {
      const f = workerFacts(r, kids);
      const parts = [`${f.all} worker${f.all === 1 ? '' : 's'}`];
      if (f.running) parts.push(`${f.running} running`);
      if (f.failed) parts.push(`${f.failed} failed`);
      tail.push(h('span', { class: `muted workers${f.failed ? ' failed-n' : ''}`, text: parts.join(' · ') }));
    }
    return { depth, lead, tail };
  }

  function makeRow(r, kids) {
    const href = safeHref(r.href);
    const c = isObj(r.client) ? r.client : {};
    const started = parseTime(r.started_at);
    const ended = parseTime(r.ended_at);
    let duration = '';
    if (started !== null && ended !== null) duration = fmtMs(ended - started);
    else if (started !== null && r.status === 'running') duration = `${fmtMs(Date.now() - started)}…`;
    const runId = str(r.run_id);
    const link = h('a', { href, tabindex: '-1', text: runId });
    const t = treeCell(r, kids || new Map());
    const failed = typeof r.failed_steps === 'number' ? r.failed_steps : 0;
    const tr = h('tr', { class: `run ${str(r.status)}${t.depth ? ' worker' : ''}`, tabindex: '0', 'data-key': str(r.key), 'data-status': str(r.status), 'data-href': href, 'data-depth': String(t.depth), 'data-parent': typeof r.parent_key === 'string' ? r.parent_key : null, title: str(r.path) },
      statusCell(r),
      h('td', { class: 'run-id' }, t.lead, link, r.dir && r.dir !== runId ? h('span', { class: 'muted mono dir', text: str(r.dir) }) : null, t.tail),
      h('td', { class: 'col-tenant mono', text: str(r.tenant) }),
      h('td', { class: 'client', text: [str(c.name), str(c.version)].filter(Boolean).join(' ') }),
      h('td', { class: 'num steps', text: typeof r.step_count === 'number' ? String(r.step_count) : '' }),
      h('td', { class: `num failed-steps ${failed ? 'failed-n' : 'zero'}`, text: String(failed) }),
      h('td', { class: 'started mono', title: str(r.started_at), text: fmtTime(r.started_at) }),
      h('td', { class: 'num duration', text: duration }));
    return tr;
  }

  function rows() { return [...$('runs-body').children]; }

  function render() {
    const d = S.data;
    if (!isObj(d) || !Array.isArray(d.runs)) return;
    const focusedKey = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : undefined;
    const shown = visibleRuns(d.runs);
    const kids = workersByKey(d.runs);
    $('runs-body').replaceChildren(...shown.map((r) => makeRow(r, kids)));
    $('runs').classList.toggle('no-tenant', !d.runs.some((r) => r.tenant));
    $('runs-root').textContent = str(d.root);
    const total = d.runs.length;
    const failed = d.runs.filter((r) => r.status === 'failed').length;
    const matching = d.runs.filter(matches).length;
    $('runs-count').textContent = matching === total ? `${total} runs` : `${matching} of ${total} runs`;
    const facts = [];
    const fact = (label, value) => facts.push(h('span', null, `${label} `, h('b', { text: String(value) })));
    fact('runs', total);
    if (d.running) fact('running', d.running);
    if (failed) fact('failed', failed);
    $('runs-facts').replaceChildren(...facts);
    document.title = `${d.running ? `${d.running} running · ` : ''}runs · augur view`;
    const empty = $('runs-empty');
    if (!total) { empty.textContent = 'No runs in this folder yet (bundles are found one or two levels down).'; empty.hidden = false; }
    else if (!shown.length) { empty.textContent = 'No run matches the filter.'; empty.hidden = false; }
    else empty.hidden = true;
    if (d.truncated) showBanner(`Only the first ${total} runs found are listed.`);
    // Back from a run (#run=KEY): its row has the focus; after a refresh, the focused row keeps it.
    const want = S.pending !== null ? S.pending : focusedKey;
    S.pending = null;
    if (want !== undefined && want !== null) {
      const row = rows().find((r) => r.dataset.key === want);
      if (row) row.focus();
    }
    document.body.dataset.ready = '1';
  }

  function showBanner(text) {
    const b = $('banner');
    b.className = 'banner warn';
    b.textContent = text;
    b.hidden = false;
  }

  async function poll() {
    let delay = POLL_IDLE_MS;
    try {
      const r = await fetch('api/runs', { cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) throw new Error(`${r.status} for api/runs`);
      const data = await r.json();
      const changed = JSON.stringify(data.runs) !== JSON.stringify(S.data && S.data.runs);
      S.data = data;
      if (changed) render();
      if (S.failedPoll) { S.failedPoll = false; $('banner').hidden = true; }
      delay = data.running ? POLL_RUNNING_MS : POLL_IDLE_MS;
    } catch (err) {
      S.failedPoll = true;
      showBanner(`Could not reach the viewer's server (${err && err.message ? err.message : err}); retrying.`);
      delay = POLL_ERROR_MS;
    }
    setTimeout(poll, delay);
  }

  function open(row) {
    const href = row ? safeHref(row.dataset.href) : null;
    if (href) location.href = href;
  }

  /** Fold (want=true), unfold (false) or toggle (null) a run's workers; keeps the focus. */
  function fold(row, want) {
    if (!row) return false;
    const key = row.dataset.key;
    const r = S.data && Array.isArray(S.data.runs) ? S.data.runs.find((x) => x.key === key) : null;
    if (!r || !r.children) return false;
    const folded = S.folded.has(key);
    if (want === folded) return false;
    if (folded) S.folded.delete(key); else S.folded.add(key);
    S.pending = key;
    render();
    return true;
  }

  function moveFocus(delta) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(document.activeElement);
    const next = at < 0 ? (delta > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, at + delta));
    all[next].focus();
  }

  function readFilters() {
    S.q = $('runs-search').value.trim().toLowerCase();
    S.status = $('runs-status').value;
    render();
  }

  $('runs-body').addEventListener('click', (e) => {
    const t = e.target instanceof Element ? e.target : null;
    if (!t) return;
    if (t.closest('a')) return; // the link navigates by itself (and keeps middle-click, ctrl-click)
    if (t.closest('button.fold')) { fold(t.closest('tr.run'), null); return; }
    open(t.closest('tr.run'));
  });

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const typing = t instanceof HTMLElement && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA');
    if (typing) {
      if (e.key === 'Escape' || (e.key === 'Enter' && t.id === 'runs-search')) {
        e.preventDefault();
        t.blur();
        const first = rows()[0];
        if (first) first.focus();
      }
      return;
    }
    if ($('help').open) {
      if (e.key === '?') { $('help').close(); e.preventDefault(); }
      return;
    }
    let handled = true;
    switch (e.key) {
      case 'Enter': {
        const row = t instanceof Element ? t.closest('tr.run') : null;
        if (row) open(row); else handled = false;
        break;
      }
      case 'j': case 'ArrowDown': moveFocus(1); break;
      case 'k': case 'ArrowUp': moveFocus(-1); break;
      case 'ArrowLeft': case 'ArrowRight': {
        const row = t instanceof Element ? t.closest('tr.run') : null;
        if (!fold(row, e.key === 'ArrowLeft') && row && e.key === 'ArrowLeft' && row.dataset.parent) {
          const up = rows().find((x) => x.dataset.key === row.dataset.parent);
          if (up) up.focus();
        }
        break;
      }
      case 'g': case 'Home': { const r = rows()[0]; if (r) r.focus(); break; }
      case 'G': case 'End': { const all = rows(); if (all.length) all[all.length - 1].focus(); break; }
      case '/': $('runs-search').focus(); $('runs-search').select(); break;
      case '?': $('help').showModal(); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  let searchTimer = null;
  $('runs-search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(readFilters, 80); });
  $('runs-status').addEventListener('change', readFilters);
  $('btn-help').addEventListener('click', () => $('help').showModal());
  for (const b of document.querySelectorAll('.dialog-close')) b.addEventListener('click', () => b.closest('dialog').close());

  render();
  setTimeout(poll, S.data && S.data.running ? POLL_RUNNING_MS : POLL_IDLE_MS);
}());
