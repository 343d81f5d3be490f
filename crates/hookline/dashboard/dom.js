// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing a provider sends can run in the dashboard.

/** h('div.card', {onclick}, child, 'text', [more]) */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  // Anything but a plain object in second place is a child (0 and '' too).
  if (attrs === null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    if (attrs !== undefined) children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An SVG element (charts). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Appends children to `el`, skipping null, undefined and false. */
export function put(el, ...children) {
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c);
  }
  return el;
}

/** `name` with a line-break opportunity after each `.`, `_`, `-` and `/`
 * (`customer.<wbr>subscription.<wbr>…`), so a long dotted name wraps
 * between its parts on a narrow screen rather than widen its column. */
export function breakable(name) {
  const parts = String(name).split(/(?<=[._\-/])/);
  return parts.flatMap((p, i) => (i === 0 ? [p] : [document.createElement('wbr'), p]));
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** "3 s ago", "5 min ago", or a date for older times. */
export function ago(iso) {
  if (!iso) return '';
  const t = Date.parse(iso);
  const secs = Math.round((Date.now() - t) / 1000);
  if (secs < 0) return 'in ' + span(-secs);
  if (secs < 5) return 'just now';
  if (secs < 86400) return span(secs) + ' ago';
  return new Date(t).toLocaleString();
}

function span(secs) {
  if (secs < 60) return secs + ' s';
  if (secs < 3600) return Math.round(secs / 60) + ' min';
  return Math.round(secs / 3600) + ' h';
}

export function when(iso) {
  return iso ? new Date(Date.parse(iso)).toLocaleString() : '';
}

export function badge(status) {
  return h('span.badge', { class: 'st-' + status, dataset: { status } }, status);
}

/** A button that copies `text`, saying so briefly. */
export function copyButton(text, label = 'Copy') {
  const b = h('button.ghost.small', { type: 'button', title: 'Copy to the clipboard' }, label);
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch {
      b.textContent = 'Select and copy';
    }
    setTimeout(() => (b.textContent = label), 1500);
  });
  return b;
}
