// The Services section: VS Code, terminal and remote browser health with a
// link that opens each, checked every 15 s while the tab is visible (a
// cheap TCP probe the server caches; /health needs no credentials).

import { get, base } from './api.js';
import { $, h, setMessage, fmt } from './util.js';
import { announce } from './ui.js';

// Known services in display order, with where each opens.
const KNOWN = {
  vscode: { label: 'VS Code', desc: 'Browser IDE', path: '/ide' },
  terminal: { label: 'Terminal', desc: 'Web terminal (ttyd)', path: '/terminal' },
  browser: { label: 'Remote browser', desc: 'Firefox over VNC', path: '/browser/' },
  vnc: { label: 'VNC server', desc: 'Display behind the remote browser', path: null },
};

let latest = null;
let timer = null;
let lastStatus = '';

/** The latest /health answer, or null. */
export function health() {
  return latest;
}

/** True when the named service was up at the last check. */
export function isUp(name) {
  return !!(latest && latest.services && latest.services[name] && latest.services[name].status === 'up');
}

/** Where a service opens: under the API base ("/oauth/ide" behind the proxy). */
export function serviceUrl(name) {
  const k = KNOWN[name];
  return k && k.path ? base + k.path : null;
}

function render(hl) {
  const list = $('service-list');
  list.textContent = '';
  const services = (hl && hl.services) || {};
  const names = Object.keys(KNOWN).filter((n) => n in services);
  for (const n of Object.keys(services).sort()) if (!names.includes(n)) names.push(n);
  for (const name of names) {
    const s = services[name] || {};
    const k = KNOWN[name] || { label: name, desc: '', path: null };
    const up = s.status === 'up';
    const state = up ? 'up' : s.status === 'down' ? 'down' : 'unknown';
    const detail = up
      ? `up · port ${s.port}${typeof s.latency_ms === 'number' ? ` · ${s.latency_ms < 0.1 ? '<0.1' : fmt(s.latency_ms)} ms` : ''}`
      : state === 'down'
        ? `down · port ${s.port}`
        : 'not checked yet';
    let action;
    if (k.path && up) {
      action = h('a', {
        className: 'button',
        href: base + k.path,
        target: '_blank',
        rel: 'noopener',
        textContent: 'Open',
        attrs: { 'aria-label': `Open ${k.label} in a new tab` },
      });
    } else if (k.path) {
      // Down: no link to follow, but say so rather than hide it.
      action = h('button', { type: 'button', className: 'button', disabled: true, textContent: 'Open', attrs: { 'aria-label': `${k.label} is down` } });
    } else action = h('span');
    list.append(
      h(
        'li',
        { className: 'service card', dataset: { state, service: name } },
        h('span', { className: 'dot', attrs: { 'aria-hidden': 'true' } }),
        h('div', { className: 'svc-text' }, h('strong', { textContent: k.label }), h('span', { className: 'small muted', textContent: `${k.desc ? k.desc + ' · ' : ''}${detail}` })),
        action,
      ),
    );
  }
  if (!names.length) list.append(h('li', { className: 'muted small', textContent: 'No services are probed in this workspace.' }));

  const pill = $('health-pill');
  const status = hl && hl.status;
  pill.dataset.state = status === 'healthy' ? 'ok' : status === 'degraded' ? 'warn' : 'unknown';
  const down = names.filter((n) => services[n] && services[n].status === 'down').map((n) => (KNOWN[n] || { label: n }).label);
  pill.textContent = status === 'healthy' ? 'All services up' : status === 'degraded' ? `Degraded: ${down.join(', ') || 'some services down'}` : 'Services unknown';
  if (status && status !== lastStatus) {
    if (lastStatus) announce(pill.textContent);
    lastStatus = status;
  }
}

export async function refresh() {
  try {
    latest = await get('/health');
    setMessage($('services-error'), '');
    render(latest);
  } catch (e) {
    setMessage($('services-error'), 'Health check failed: ' + e.message);
    $('health-pill').dataset.state = 'bad';
    $('health-pill').textContent = 'Health unknown';
  }
}

export function init() {
  refresh();
  timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, 15000);
}

export function stop() {
  clearInterval(timer);
}
