#!/usr/bin/env node
// A stand-in for kc-gateway + kc-server that speaks the REST contract of
// DESIGN §3 with canned data, so the dashboard can be tested in a browser
// in a second, without building the C stack. It serves the page's files
// with the gateway's CSP, checks auth the way the gateway does (bearer
// anywhere, proxy identity headers only under /oauth/, /health* open) and
// streams metrics and task events as Server-Sent Events.
//
//   node mock_server.js --web DIR [--port N] [--token T]
// Prints one line `listening <port>` when ready; exits on SIGTERM.

'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : dflt;
};
const WEB = path.resolve(opt('web', path.join(__dirname, '../../gateway/web')));
const PORT = parseInt(opt('port', '0'), 10);
let TOKEN = opt('token', 'mock-token-0123456789abcdef0123456789abcdef');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

const now = () => Date.now() / 1000;

// ---- state ----------------------------------------------------------------
const tasks = new Map(); // id -> task (+ _out: string, _watchers: Set)
let gh = {
  ssh: { configured: false, key_type: '', key_fingerprint: '', public_key: '' },
  gh_cli: { installed: true, authenticated: false, username: '' },
  git_config: { user_name: '', user_email: '' },
  github_app: { configured: true, token_valid: true, expires_at: now() + 2700, refreshed_at: now() - 900, last_error: '', token_path: '/home/coder/.config/kube-coder/github-token' },
};

let tick = 0;
function metrics() {
  tick += 1;
  const cpu = 35 + 30 * Math.sin(tick / 3) + Math.random() * 5;
  const mem = 82 + 3 * Math.sin(tick / 5);
  const alerts = [];
  if (mem > 80) alerts.push({ type: 'warning', resource: 'memory', message: `Memory usage is at ${mem.toFixed(1)}%`, value: mem, threshold: 80 });
  return {
    cpu: { usage_percent: Math.max(0, Math.min(100, cpu)), cores: 3, limit_cores: 2.5 },
    memory: { total_mb: 5120, used_mb: (5120 * mem) / 100, available_mb: 5120 * (1 - mem / 100), percent: mem, container: true },
    disk: { total_gb: 49.1, used_gb: 21.3, available_gb: 27.8, percent: 43.4, path: '/home/coder' },
    alerts,
    timestamp: now(),
  };
}

function health() {
  const t = now();
  return {
    status: 'degraded',
    services: {
      vscode: { status: 'up', port: 8080, latency_ms: 0.4, checked_at: t },
      terminal: { status: 'down', port: 7681, checked_at: t },
      browser: { status: 'up', port: 6081, latency_ms: 0.6, checked_at: t },
      vnc: { status: 'up', port: 5900, latency_ms: 0.3, checked_at: t },
    },
    timestamp: t,
  };
}

function publicTask(t, withOutput) {
  const o = {};
  for (const [k, v] of Object.entries(t)) if (!k.startsWith('_')) o[k] = v;
  if (withOutput) o.recent_output = t._out.split('\n').slice(-50).join('\n');
  return o;
}

function summary(t) {
  const s = { task_id: t.task_id, prompt: t.prompt.slice(0, 120), status: t.status, created_at: t.created_at, status_detail: t.status_detail };
  if (t.finished_at !== undefined) s.finished_at = t.finished_at;
  return s;
}

function sse(res, obj) {
  res.write('data: ' + JSON.stringify(obj) + '\n\n');
}

function taskChanged(t) {
  for (const w of t._watchers) sse(w, { task: publicTask(t, false) });
  if (t.status !== 'running') for (const w of t._watchers) w.end();
}

function output(t, text) {
  const offset = Buffer.byteLength(t._out);
  t._out += text;
  for (const w of t._watchers) sse(w, { output: { text, offset } });
}

function setDetail(t, d) {
  if (t.status !== 'running') return;
  t.status_detail = d;
  taskChanged(t);
}

// The fake agent: echoes what it is told, in colour, then waits.
function agentSay(t, prompt, first) {
  setDetail(t, 'working');
  setTimeout(() => {
    if (t.status !== 'running') return;
    output(t, `\x1b[1;32m●\x1b[0m fake-agent received: ${prompt}\r\n`);
    output(t, `\x1b[38;5;208mthinking\x1b[0m... \x1b[2K\rdone \x1b[34m[100%]\x1b[0m\r\n`);
    setTimeout(() => {
      if (t.status !== 'running') return;
      output(t, `echo: ${prompt}\r\n\x1b[7m>\x1b[27m `);
      setDetail(t, 'waiting_for_input');
    }, first ? 300 : 150);
  }, 200);
}

function createTask(body) {
  const id = `${Math.floor(now())}-${crypto.randomBytes(4).toString('hex')}`;
  const t = {
    task_id: id,
    session_id: crypto.randomUUID(),
    prompt: body.prompt,
    workdir: body.workdir || '/home/coder',
    status: 'running',
    status_detail: 'starting',
    created_at: now(),
    tmux_session: `claude-${id}`,
    followups: [],
    recent_output: '',
    agent: 'claude',
    _out: '',
    _watchers: new Set(),
  };
  tasks.set(id, t);
  setTimeout(() => {
    output(t, '\x1b]0;fake agent\x07\x1b[?2004hWelcome to the \x1b[1mfake agent\x1b[0m\r\n\x1b[36m>\x1b[0m ');
    t.prompt_delivered_at = now();
    agentSay(t, body.prompt, true);
  }, 150);
  return t;
}

// A finished task and an errored one, so the list shows every state.
(function seed() {
  const a = createTask({ prompt: 'Analyze the codebase and create a CLAUDE.md' });
  a.created_at = now() - 3 * 3600;
  setTimeout(() => {
    a.status = 'completed';
    a.status_detail = 'unspecified';
    a.finished_at = a.created_at + 412;
    taskChanged(a);
  }, 900);
  const b = createTask({ prompt: 'Upgrade the chart to Helm 4 and fix the lint warnings' });
  b.created_at = now() - 26 * 3600;
  b.status = 'error';
  b.status_detail = 'unspecified';
  b.error = 'agent never became ready within 60000 ms';
  b.finished_at = b.created_at + 60;
})();

// ---- http -----------------------------------------------------------------
function send(res, code, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}
const fail = (res, code, msg) => send(res, code, { error: msg });

function readBody(req) {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
  });
}

function serveStatic(req, res, p) {
  let rel = p === '/' ? '/index.html' : p;
  const file = path.normalize(path.join(WEB, rel));
  if (!file.startsWith(WEB + path.sep)) return fail(res, 404, 'not found');
  fs.readFile(file, (err, data) => {
    if (err) return fail(res, 404, 'not found');
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
      // The gateway's policy, so a page that breaks it fails here too.
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    });
    res.end(data);
  });
}

const metricStreams = new Set();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  // Test hook: cut every metrics stream, as a restarting gateway would.
  if (req.method === 'POST' && url.pathname === '/__test/drop-streams') {
    for (const r of metricStreams) r.destroy();
    metricStreams.clear();
    return send(res, 200, { ok: true });
  }
  let p = url.pathname;
  let viaOauth = false;
  if (p === '/oauth' || p.startsWith('/oauth/')) {
    viaOauth = true;
    p = p.slice('/oauth'.length) || '/';
  }
  const apiRoute = p.startsWith('/api/') || p === '/metrics' || p === '/metrics/watch' || p.startsWith('/health');
  if (!apiRoute) return serveStatic(req, res, p);

  const bearer = (req.headers.authorization || '').replace(/^Bearer\s+/i, '');
  const identity = viaOauth && (req.headers['x-auth-request-user'] || req.headers['x-auth-request-email']);
  const authed = identity || (bearer && bearer === TOKEN);
  if (!p.startsWith('/health') && !authed) return fail(res, 401, 'missing or invalid credentials');

  const body = req.method === 'POST' ? await readBody(req) : '';
  let json = {};
  if (body) {
    try {
      json = JSON.parse(body);
    } catch {
      return fail(res, 400, 'request body is not valid JSON');
    }
  }
  const m = req.method;
  let mm;

  if (m === 'GET' && p === '/health') return send(res, 200, health());
  if (m === 'GET' && p === '/metrics') return send(res, 200, metrics());
  if (m === 'GET' && p === '/metrics/watch') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
    sse(res, metrics());
    const iv = setInterval(() => sse(res, metrics()), 1000);
    metricStreams.add(res);
    req.on('close', () => {
      clearInterval(iv);
      metricStreams.delete(res);
    });
    return;
  }
  if (m === 'GET' && p === '/api/github/status') return send(res, 200, gh);
  if (m === 'POST' && p === '/api/github/config') {
    if (!json.name || !json.email) return fail(res, 400, 'name and email are required');
    if (!/@/.test(json.email)) return fail(res, 400, 'field "email": not a plausible address');
    gh.git_config = { user_name: json.name, user_email: json.email };
    return send(res, 200, gh.git_config);
  }
  if (m === 'POST' && p === '/api/github/ssh/generate') {
    if (!json.email) return fail(res, 400, 'email is required');
    gh.ssh = { configured: true, key_type: 'ssh-ed25519', key_fingerprint: 'SHA256:q1w2e3r4t5y6u7i8o9p0AbCdEfGhIjKlMnOpQrStUvW', public_key: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockMockMockMockMockMockMockMockMockMock ${json.email}` };
    return send(res, 200, gh.ssh);
  }
  if (m === 'POST' && p === '/api/github/cli/login-url') {
    return send(res, 200, { instructions: 'Run this in the workspace terminal, then enter the one-time code it shows at the page below.', command: 'gh auth login --web --git-protocol ssh', url: 'https://github.com/login/device' });
  }
  if (m === 'POST' && p === '/api/github/cli/complete-auth') return send(res, 200, gh.gh_cli);

  if (p === '/api/claude/auth/token' || p === '/api/claude/auth/token/regenerate') {
    if (!identity) return fail(res, 403, 'the API token is only available to a browser session through the OAuth proxy');
    if (p.endsWith('/regenerate')) {
      if (m !== 'POST') return fail(res, 404, 'not found');
      TOKEN = crypto.randomBytes(36).toString('base64url');
    } else if (m !== 'GET') return fail(res, 404, 'not found');
    return send(res, 200, { token: TOKEN });
  }

  if (p === '/api/claude/tasks') {
    if (m === 'GET') {
      const list = [...tasks.values()].sort((a, b) => b.created_at - a.created_at).map(summary);
      return send(res, 200, { tasks: list, next_page_token: '', total_size: list.length });
    }
    if (m === 'POST') {
      if (typeof json.prompt !== 'string' || !json.prompt.trim()) return fail(res, 400, 'prompt is required');
      if (json.workdir && json.workdir.startsWith('/nonexistent')) return fail(res, 400, `workdir "${json.workdir}" does not exist`);
      const t = createTask(json);
      return send(res, 201, publicTask(t, true));
    }
  }
  if ((mm = p.match(/^\/api\/claude\/tasks\/([^/]+)(\/[a-z-]+)?$/))) {
    const t = tasks.get(decodeURIComponent(mm[1]));
    if (!t) return fail(res, 404, 'task not found');
    const sub = mm[2] || '';
    if (m === 'GET' && sub === '') return send(res, 200, publicTask(t, true));
    if (m === 'GET' && sub === '/output') {
      const tail = parseInt(url.searchParams.get('tail') || '0', 10);
      let out = t._out;
      if (tail > 0) out = out.split('\n').slice(-tail).join('\n');
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end(out);
    }
    if (m === 'GET' && sub === '/watch') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      sse(res, { task: publicTask(t, false) });
      if (url.searchParams.get('include_output') === 'true' && t._out) sse(res, { output: { text: t._out, offset: 0 } });
      if (t.status !== 'running') return res.end();
      t._watchers.add(res);
      req.on('close', () => t._watchers.delete(res));
      return;
    }
    if (m === 'POST' && sub === '/message') {
      if (t.status !== 'running') return fail(res, 400, 'Session is no longer running');
      if (typeof json.prompt !== 'string' || !json.prompt.trim()) return fail(res, 400, 'prompt is required');
      t.followups.push({ prompt: json.prompt, sent_at: now() });
      output(t, json.prompt + '\r\n');
      taskChanged(t);
      agentSay(t, json.prompt, false);
      return send(res, 200, publicTask(t, true));
    }
    if (m === 'DELETE' && sub === '') {
      const at = now();
      if (t.status === 'running') t.finished_at = at;
      t.status = 'killed';
      t.status_detail = 'unspecified';
      t.killed_at = at;
      taskChanged(t);
      return send(res, 200, { task_id: t.task_id, status: 'killed', killed_at: at });
    }
    if (m === 'POST' && sub === '/prepare-terminal') return send(res, 200, { ok: true, session: t.tmux_session });
  }
  return fail(res, 404, 'not found');
});

server.listen(PORT, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
