// The System section: CPU, memory and disk from the metrics stream (one
// long-lived request; samples arrive as the server takes them), with alert
// levels, container limits and a sparkline of recent history per figure.
// The stream pauses while the tab is hidden and resumes when it is shown.

import { stream, get } from './api.js';
import { $, h, fmt, mib, gib, drawSpark, setMessage } from './util.js';
import { announce } from './ui.js';

const HISTORY = 60;
const history = { cpu: [], memory: [], disk: [] };
let conn = null;
let pollTimer = null;
let lastAlertKey = '';

function levelOf(resource, alerts) {
  let level = 'ok';
  for (const a of alerts) {
    if (a.resource !== resource) continue;
    if (a.type === 'critical') level = 'critical';
    else if (a.type === 'warning' && level !== 'critical') level = 'warning';
  }
  return level;
}

function setCard(key, percent, detail, alerts) {
  const card = $('metric-' + key);
  const value = card.querySelector('[data-field=value]');
  value.textContent = fmt(percent);
  card.querySelector('[data-field=detail]').textContent = detail;
  const bar = card.querySelector('.bar');
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  bar.setAttribute('aria-valuenow', p.toFixed(0));
  bar.firstElementChild.style.width = p + '%';
  card.dataset.level = levelOf(key, alerts);
  const hist = history[key];
  hist.push(p);
  if (hist.length > HISTORY) hist.shift();
  drawSpark(card.querySelector('.spark'), hist);
}

/** Renders one metrics sample. */
export function render(m) {
  if (!m || typeof m !== 'object') return;
  const alerts = Array.isArray(m.alerts) ? m.alerts : [];
  const cpu = m.cpu || {};
  const mem = m.memory || {};
  const disk = m.disk || {};

  let cpuDetail = `${cpu.cores ?? '–'} core${cpu.cores === 1 ? '' : 's'}`;
  if (typeof cpu.limit_cores === 'number') cpuDetail += ` · limit ${fmt(cpu.limit_cores, 2).replace(/\.?0+$/, '')} CPU`;
  setCard('cpu', cpu.usage_percent, cpuDetail, alerts);

  setCard(
    'memory',
    mem.percent,
    `${mib(mem.used_mb)} of ${mib(mem.total_mb)}${mem.container ? ' (container limit)' : ''}`,
    alerts,
  );
  setCard('disk', disk.percent, `${gib(disk.used_gb)} of ${gib(disk.total_gb)}${disk.path ? ' · ' + disk.path : ''}`, alerts);

  const box = $('alerts');
  box.textContent = '';
  for (const a of alerts) {
    const level = a.type === 'critical' ? 'critical' : 'warning';
    let text = a.message || `${a.resource} at ${fmt(a.value)}%`;
    if (typeof a.threshold === 'number' && a.threshold > 0) text += ` (${level} above ${fmt(a.threshold, 0)}%)`;
    box.append(h('p', { className: 'alert ' + level }, h('strong', { textContent: level === 'critical' ? 'Critical' : 'Warning' }), ' ', text));
  }
  const key = alerts.map((a) => a.type + a.resource).join(',');
  if (key !== lastAlertKey) {
    if (alerts.length) announce(alerts.map((a) => a.message || a.resource).join('. '));
    lastAlertKey = key;
  }

  const ts = typeof m.timestamp === 'number' ? new Date(m.timestamp * 1000) : new Date();
  $('metrics-updated').textContent = 'Updated ' + ts.toLocaleTimeString();
}

function setPill(state, text) {
  const pill = $('stream-pill');
  pill.dataset.state = state;
  pill.textContent = text;
}

/** Polls every 5 s: only when the server has no metrics stream. */
function startPolling() {
  const tick = async () => {
    try {
      render(await get('/metrics'));
      setPill('ok', 'Metrics every 5 s');
    } catch (e) {
      setPill('bad', 'Metrics unavailable');
      setMessage($('metrics-updated'), e.message);
    }
  };
  tick();
  pollTimer = setInterval(tick, 5000);
}

export function start() {
  stop();
  conn = stream('/metrics/watch', {
    onEvent(obj) {
      if (obj && typeof obj.error === 'string') {
        setMessage($('metrics-updated'), obj.error);
        return;
      }
      render(obj.result || obj);
    },
    onState(state, err) {
      if (state === 'open') setPill('ok', 'Live');
      else if (state === 'connecting') setPill('unknown', 'Connecting…');
      else if (state === 'retrying') setPill('warn', 'Reconnecting…');
      else if (state === 'failed') {
        if (err && err.status === 404) {
          conn = null;
          startPolling();
        } else {
          setPill('bad', 'Metrics unavailable');
          if (err) $('metrics-updated').textContent = err.message;
        }
      }
    },
  });
}

export function stop() {
  if (conn) conn.close();
  conn = null;
  clearInterval(pollTimer);
  pollTimer = null;
}

export function init() {
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      stop();
      setPill('unknown', 'Paused');
    } else start();
  });
  start();
}
