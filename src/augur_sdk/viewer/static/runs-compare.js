/* augur view DIR: pick two runs in the run list and open them side by side (/compare/).
 *
 * Adds a check box to every row runs.js renders (it re-renders on refresh: a
 * MutationObserver puts the boxes back, keeping the picks), a "Compare" button, and the keys
 * x (pick the focused run) and c (compare the two picked runs). The first run picked is A.
 */
'use strict';
(function () {
  const h = window.augurDom.h;
  const body = document.getElementById('runs-body');
  const picked = []; // run keys in pick order: [A, B]

  const button = h('button', { id: 'btn-compare', type: 'button', title: 'Open the two picked runs side by side (c)', text: 'Compare' });
  const hint = h('span', { id: 'compare-hint', class: 'muted' });
  document.querySelector('.runs-tools').append(button, hint);
  const head = document.querySelector('#runs thead tr');
  if (head) head.prepend(h('th', { scope: 'col', class: 'pick', title: 'Pick two runs to compare (x)', text: 'A/B' }));

  function decorate() {
    observer.disconnect();
    for (const tr of body.querySelectorAll('tr.run')) {
      let cell = tr.querySelector('td.pick');
      if (!cell) {
        cell = h('td', { class: 'pick' }, h('input', { type: 'checkbox', class: 'pick-box', tabindex: '-1', 'aria-label': 'Pick this run to compare' }));
        tr.prepend(cell);
      }
      const at = picked.indexOf(tr.dataset.key);
      cell.firstChild.checked = at >= 0;
      cell.dataset.side = at === 0 ? 'A' : at === 1 ? 'B' : '';
      cell.title = at === 0 ? 'A (picked first)' : at === 1 ? 'B' : 'Pick to compare (x)';
    }
    button.disabled = picked.length !== 2;
    hint.textContent = picked.length === 0 ? 'pick two runs to compare them (x)'
      : picked.length === 1 ? `A: ${picked[0]} · pick one more`
        : `A: ${picked[0]} · B: ${picked[1]}`;
    observer.observe(body, { childList: true });
  }

  function toggle(key) {
    if (!key) return;
    const at = picked.indexOf(key);
    if (at >= 0) picked.splice(at, 1);
    else {
      picked.push(key);
      if (picked.length > 2) picked.shift();
    }
    decorate();
  }

  function compare() {
    if (picked.length !== 2) return;
    location.href = `/compare/?a=${encodeURIComponent(picked[0])}&b=${encodeURIComponent(picked[1])}`;
  }

  const observer = new MutationObserver(decorate);
  // Capture phase: a click on the box must not reach runs.js, which opens the row's run.
  body.addEventListener('click', (e) => {
    const cell = e.target instanceof Element ? e.target.closest('td.pick') : null;
    if (!cell) return;
    e.stopPropagation();
    if (!(e.target instanceof HTMLInputElement)) e.preventDefault();
    toggle(cell.closest('tr.run').dataset.key);
  }, true);
  button.addEventListener('click', compare);
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
    if (document.getElementById('help').open) return;
    if (e.key === 'x') {
      const row = t instanceof Element ? t.closest('tr.run') : null;
      if (row) { toggle(row.dataset.key); e.preventDefault(); }
    } else if (e.key === 'c' && picked.length === 2) {
      compare();
      e.preventDefault();
    }
  });
  const keys = document.querySelector('#help table.keys');
  if (keys) {
    keys.append(h('tr', null, h('td', null, h('kbd', { text: 'x' })), h('td', { text: 'pick the run to compare (A, then B)' })));
    keys.append(h('tr', null, h('td', null, h('kbd', { text: 'c' })), h('td', { text: 'compare the two picked runs side by side' })));
  }
  decorate();
}());
