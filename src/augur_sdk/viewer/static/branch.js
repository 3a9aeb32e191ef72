/* augur view: where a branch left its parent run (DebugSession.branch_from). Loaded after
 * dom.js and before app.js; an exported file inlines it between them. Reads only the
 * session record (untrusted): text goes into Text nodes, the only link is a run-list href
 * of this server.
 */
'use strict';
window.augurBranch = (function () {
  const h = window.augurDom.h;
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const pad = (i) => String(i).padStart(4, '0');

  /** The branch a session record describes, or null for a run that is not a branch. */
  function info(session) {
    const ctx = isObj(session) ? session.branch_context : null;
    if (!isObj(ctx) || typeof ctx.parent_run_id !== 'string' || !ctx.parent_run_id) return null;
    const bp = ctx.branch_point_step_index;
    if (typeof bp !== 'number' || !Number.isInteger(bp) || bp < 0) return null;
    const tags = isObj(session.tags) ? session.tags : {};
    const mode = tags['augur.branch_mode'];
    return {
      parent: ctx.parent_run_id,
      point: bp,
      axis: typeof ctx.mutated_axis === 'string' ? ctx.mutated_axis : '',
      mutation: isObj(ctx.mutation) ? JSON.stringify(ctx.mutation) : '',
      mode: mode === 'replay' || mode === 'sandbox' ? mode : '',
    };
  }

  /** 'replayed' for a step copied from the parent, 'point' for the branch point, else ''. */
  function stepRole(b, i) {
    if (!b) return '';
    if (i === b.point) return 'point';
    return b.mode === 'replay' && i < b.point ? 'replayed' : '';
  }

  /** The run-list href of the parent: same run id, the same tenant first. */
  function parentHref(listing, b, here) {
    const runs = isObj(listing) && Array.isArray(listing.runs) ? listing.runs : [];
    const mine = runs.find((r) => isObj(r) && r.href === here);
    const same = runs.filter((r) => isObj(r) && r.run_id === b.parent
      && typeof r.href === 'string' && /^\/runs\/[^?#]*\/$/.test(r.href));
    const best = same.find((r) => mine && r.tenant === mine.tenant) || same[0];
    return best ? best.href : null;
  }

  /** The note under the top bar: parent (a link when known), branch point, what changed. */
  function note(b, href) {
    const parent = href
      ? h('a', { id: 'branch-parent', class: 'mono', href, title: 'Open the parent run', text: b.parent })
      : h('span', { id: 'branch-parent', class: 'mono', title: 'not in this run list', text: b.parent });
    const parts = ['Branch of run ', parent, ' at step ',
      h('b', { id: 'branch-point', text: pad(b.point) })];
    if (b.axis) parts.push(' · ', h('span', { text: `${b.axis} changed` }));
    if (b.mutation) parts.push(' ', h('code', { class: 'mono', text: b.mutation }));
    if (b.mode === 'replay') {
      parts.push(' · ', b.point ? `steps 0000-${pad(b.point - 1)} replayed from the parent` : 'nothing replayed');
    } else if (b.mode === 'sandbox') {
      parts.push(' · every step run afresh (sandbox)');
    }
    return parts;
  }

  return Object.freeze({ info, stepRole, parentHref, note });
}());
