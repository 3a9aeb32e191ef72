/* augur view: the DOM helper shared by the step debugger (app.js) and the run list
 * (runs.js). Loaded before either; an exported file inlines it ahead of app.js.
 */
'use strict';
window.augurDom = Object.freeze({
  /** Build an element. Strings become Text nodes; attributes are set as plain values. */
  h: function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = String(v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  },
});
