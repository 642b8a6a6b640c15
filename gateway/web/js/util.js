// Small helpers shared by the page's sections: DOM building without
// innerHTML, relative times, number formats, copy to clipboard, sparklines.

/** Creates an element; `props` sets properties (className, textContent,
 * type…) and `dataset`/`attrs` objects; children are nodes or strings. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) el.setAttribute(a, av);
    else el[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

/** Shows `text` in the element (unhiding it), or hides it when text is empty. */
export function setMessage(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "yesterday", "4 days ago",
 * then a date. `t` is float Unix seconds. */
export function relTime(t, now = Date.now() / 1000) {
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) return '';
  const d = now - t;
  if (d < -30) return 'in the future';
  if (d < 10) return 'just now';
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 172800) return 'yesterday';
  if (d < 30 * 86400) return `${Math.floor(d / 86400)} days ago`;
  return new Date(t * 1000).toLocaleDateString();
}

/** A duration in seconds as "45 s", "3 min 5 s", "2 h 4 min". */
export function duration(s) {
  if (!Number.isFinite(s) || s < 0) return '';
  s = Math.round(s);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A <time> element that keeps itself current (see refreshTimes). */
export function timeEl(t, prefix = '') {
  const el = h('time', { className: 'rel' });
  setTime(el, t, prefix);
  return el;
}

export function setTime(el, t, prefix = '') {
  if (typeof t !== 'number' || !(t > 0)) {
    el.textContent = '';
    delete el.dataset.t;
    return;
  }
  el.dataset.t = String(t);
  el.dataset.prefix = prefix;
  el.dateTime = new Date(t * 1000).toISOString();
  el.title = new Date(t * 1000).toLocaleString();
  el.textContent = prefix + relTime(t);
}

/** Rewrites every relative time on the page. */
export function refreshTimes() {
  for (const el of document.querySelectorAll('time[data-t]')) {
    el.textContent = (el.dataset.prefix || '') + relTime(parseFloat(el.dataset.t));
  }
}

export function fmt(n, digits = 1) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  return n.toFixed(digits);
}

/** MiB as "812 MiB" or "3.2 GiB". */
export function mib(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  return n >= 1024 ? `${(n / 1024).toFixed(1)} GiB` : `${Math.round(n)} MiB`;
}

export function gib(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  return n >= 1024 ? `${(n / 1024).toFixed(2)} TiB` : `${n.toFixed(1)} GiB`;
}

/** Copies text; falls back to selecting a field when the Clipboard API is
 * missing (plain http on a non-loopback host). Resolves true on success. */
export async function copyText(text, fallbackField) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackField) {
      fallbackField.focus();
      if (fallbackField.select) fallbackField.select();
    }
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

/** Briefly changes a button's label to confirm an action. */
export function flashLabel(btn, text, ms = 1500) {
  if (!btn.dataset.label) btn.dataset.label = btn.textContent;
  btn.textContent = text;
  clearTimeout(btn._flash);
  btn._flash = setTimeout(() => {
    btn.textContent = btn.dataset.label;
  }, ms);
}

/** Draws values (0–100) as a polyline in an SVG with viewBox 0 0 120 28. */
export function drawSpark(svg, values) {
  const line = svg.querySelector('polyline');
  if (values.length < 2) {
    line.setAttribute('points', '');
    return;
  }
  const w = 120;
  const hgt = 28;
  const step = w / (values.length - 1);
  const pts = values.map((v, i) => {
    const y = hgt - 1 - (Math.max(0, Math.min(100, v)) / 100) * (hgt - 2);
    return `${(i * step).toFixed(1)},${y.toFixed(1)}`;
  });
  line.setAttribute('points', pts.join(' '));
}

/** Runs `fn` while a button shows it is busy; re-enables it after. */
export async function busy(btn, fn) {
  const was = btn.disabled;
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    btn.disabled = was;
    btn.removeAttribute('aria-busy');
  }
}
