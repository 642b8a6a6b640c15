// The Claude tasks section: the list with live status, the new-task form,
// and the task view with live output (the task's watch stream), follow-up
// messages, Kill and Attach.
//
// The list is re-read every 5 s while the tab is visible and at once after
// every action; the task being viewed is followed through its watch stream
// (status changes and output as they happen), so the one task a person is
// looking at is never stale.

import { get, post, del, stream, oauth, base } from './api.js';
import { AnsiRenderer, stripAnsi } from './ansi.js';
import { $, h, setMessage, timeEl, busy, duration, flashLabel, copyText } from './util.js';
import { announce } from './ui.js';
import { isUp } from './services.js';

const LIST_EVERY_MS = 5000;
const enc = new TextEncoder();
const dec = new TextDecoder();

let listTimer = null;
let tasks = []; // the last list, newest first
let current = null; // { id, task, conn, renderer, bytes, poll }

/** What a person calls a task's state: running tasks by their activity. */
export function stateOf(t) {
  if (!t) return 'unknown';
  if (t.status === 'running') {
    if (t.status_detail === 'waiting_for_input') return 'waiting for input';
    if (t.status_detail === 'starting') return 'starting';
    if (t.status_detail === 'working') return 'working';
    return 'running';
  }
  return t.status || 'unknown';
}

function badgeFor(t) {
  const s = stateOf(t);
  return h('span', { className: 'badge', dataset: { status: s.replace(/ /g, '-') }, textContent: s });
}

function preview(prompt) {
  const p = stripAnsi(prompt || '').replace(/\s+/g, ' ').trim();
  return p.length > 120 ? p.slice(0, 119) + '…' : p;
}

// ---- list -----------------------------------------------------------------

function renderList() {
  const ul = $('task-list');
  const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.taskId : null;
  ul.textContent = '';
  const filter = $('tasks-filter').value;
  const shown = tasks.filter((t) => {
    if (filter === 'running') return t.status === 'running';
    if (filter === 'waiting') return t.status === 'running' && t.status_detail === 'waiting_for_input';
    if (filter === 'finished') return t.status !== 'running';
    return true;
  });
  for (const t of shown) {
    const btn = h(
      'button',
      { type: 'button', className: 'task-row', dataset: { taskId: t.task_id } },
      h('span', { className: 'task-prompt', textContent: preview(t.prompt) || '(empty prompt)' }),
      h('span', { className: 'task-meta' }, badgeFor(t), timeEl(t.created_at), h('code', { className: 'muted', textContent: t.task_id })),
    );
    if (current && current.id === t.task_id) btn.setAttribute('aria-current', 'true');
    btn.addEventListener('click', () => open(t.task_id, true));
    ul.append(h('li', {}, btn));
  }
  $('tasks-empty').hidden = tasks.length > 0;
  $('tasks-none-match').hidden = !(tasks.length > 0 && shown.length === 0);
  const running = tasks.filter((t) => t.status === 'running').length;
  const waiting = tasks.filter((t) => t.status === 'running' && t.status_detail === 'waiting_for_input').length;
  $('tasks-count').textContent = tasks.length ? `${tasks.length} total · ${running} running${waiting ? ` · ${waiting} waiting for input` : ''}` : '';
  document.title = (waiting ? `(${waiting}) ` : '') + 'Workspace — kube-coder';
  if (focusedId) {
    const again = ul.querySelector(`[data-task-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
}

export async function refreshList() {
  try {
    const r = await get('/api/claude/tasks');
    const fresh = Array.isArray(r.tasks) ? r.tasks : [];
    // Announce status changes of tasks the person is not looking at.
    const old = new Map(tasks.map((t) => [t.task_id, stateOf(t)]));
    for (const t of fresh) {
      const was = old.get(t.task_id);
      if (was && was !== stateOf(t) && (!current || current.id !== t.task_id)) {
        announce(`Task ${preview(t.prompt).slice(0, 40)}: ${stateOf(t)}`);
      }
    }
    tasks = fresh;
    // The viewed task's own stream is fresher than the list.
    if (current && current.task) {
      const i = tasks.findIndex((t) => t.task_id === current.id);
      if (i >= 0) tasks[i] = { ...tasks[i], status: current.task.status, status_detail: current.task.status_detail };
    }
    setMessage($('tasks-error'), '');
    renderList();
  } catch (e) {
    setMessage($('tasks-error'), 'Could not list tasks: ' + e.message);
  }
}

// ---- task view ------------------------------------------------------------

function renderTask(t) {
  const prevState = current.shownState;
  current.task = t;
  $('task-view').hidden = false;
  $('tv-id').textContent = t.task_id;
  $('tv-created').textContent = '';
  $('tv-created').append('Created ', timeEl(t.created_at));
  $('tv-finished').textContent = '';
  const end = t.killed_at || t.finished_at;
  if (typeof end === 'number') {
    $('tv-finished').append(` · ${t.status === 'killed' ? 'killed' : 'ended'} `, timeEl(end), ` after ${duration(end - t.created_at)}`);
  }
  $('tv-agent').textContent = t.agent || 'claude';
  $('tv-workdir').textContent = t.workdir || '';
  $('tv-prompt').textContent = t.prompt || '';
  const badge = $('tv-status');
  const s = stateOf(t);
  badge.textContent = s;
  badge.dataset.status = s.replace(/ /g, '-');
  if (prevState && prevState !== s) announce(`Task is now ${s}`);
  current.shownState = s;
  // The task's own failure; failed actions go to #tv-error and stay until the next action.
  setMessage($('tv-task-error'), t.status === 'error' && t.error ? 'Error: ' + t.error : '');

  const fl = $('tv-followups');
  fl.textContent = '';
  for (const f of t.followups || []) {
    fl.append(h('li', {}, h('span', { className: 'fu-text', textContent: f.prompt }), ' ', timeEl(f.sent_at)));
  }

  const running = t.status === 'running';
  $('tv-message-input').disabled = !running;
  $('tv-send').disabled = !running;
  $('tv-kill').disabled = !running;
  $('tv-attach').disabled = !running;
  $('tv-message-input').placeholder = running ? 'Send a follow-up message…' : 'The session has ended';

  // Keep the list row in step.
  const i = tasks.findIndex((x) => x.task_id === t.task_id);
  if (i >= 0) {
    tasks[i] = { ...tasks[i], status: t.status, status_detail: t.status_detail, finished_at: t.finished_at };
    renderList();
  }
}

function followScroll() {
  if ($('tv-follow').checked) {
    const pre = $('tv-output');
    pre.scrollTop = pre.scrollHeight;
  }
}

/** Appends an output chunk at byte `offset`, skipping what is already shown. */
function appendOutput(text, offset) {
  if (!current || typeof text !== 'string') return;
  let bytes = enc.encode(text);
  if (typeof offset === 'number' && Number.isFinite(offset)) {
    const end = offset + bytes.length;
    if (end <= current.bytes) return; // a replay we already have
    if (offset < current.bytes) {
      bytes = bytes.slice(current.bytes - offset);
      text = dec.decode(bytes);
    } else if (offset > current.bytes) {
      // The stream started past what we have: offer the earlier part.
      $('tv-load-full').hidden = false;
    }
    current.bytes = end;
  } else current.bytes += bytes.length;
  current.renderer.write(text);
  followScroll();
}

async function loadFullOutput() {
  if (!current) return;
  const id = current.id;
  try {
    // The renderer keeps 5000 lines; asking for more would only be dropped.
    const text = await get(`/api/claude/tasks/${encodeURIComponent(id)}/output?tail=5000`);
    if (!current || current.id !== id) return;
    current.renderer.reset();
    current.renderer.write(typeof text === 'string' ? text : JSON.stringify(text));
    current.bytes = Math.max(current.bytes, enc.encode(text).length);
    $('tv-load-full').hidden = true;
    followScroll();
  } catch (e) {
    setMessage($('tv-error'), 'Could not load the output: ' + e.message);
  }
}

function setStreamState(text) {
  $('tv-stream-state').textContent = text;
}

/** Polls the task and its output tail: only when the server has no watch. */
function pollTask(id) {
  const tick = async () => {
    if (!current || current.id !== id) return;
    try {
      const t = await get(`/api/claude/tasks/${encodeURIComponent(id)}`);
      if (!current || current.id !== id) return;
      renderTask(t);
      const out = await get(`/api/claude/tasks/${encodeURIComponent(id)}/output?tail=500`);
      if (!current || current.id !== id) return;
      current.renderer.reset();
      current.renderer.write(out);
      followScroll();
      if (t.status !== 'running') {
        clearInterval(current.poll);
        setStreamState('Output (session ended)');
      }
    } catch (e) {
      setMessage($('tv-error'), e.message);
    }
  };
  setStreamState('Output (refreshed every 2 s)');
  tick();
  current.poll = setInterval(tick, 2000);
}

function watch(id) {
  current.conn = stream(`/api/claude/tasks/${encodeURIComponent(id)}/watch?include_output=true`, {
    onEvent(ev) {
      if (!current || current.id !== id) return;
      const e = ev.result || ev;
      if (typeof e.error === 'string') {
        setMessage($('tv-error'), e.error);
        return;
      }
      if (e.task) renderTask(e.task);
      if (e.output) appendOutput(e.output.text, e.output.offset);
    },
    onState(state, err) {
      if (!current || current.id !== id) return;
      if (state === 'open') setStreamState('Live output');
      else if (state === 'connecting') setStreamState('Connecting…');
      else if (state === 'retrying') setStreamState('Reconnecting…');
      else if (state === 'closed') setStreamState('Output (session ended)');
      else if (state === 'failed') {
        if (err && err.status === 404 && current.task) {
          // The task exists (we just read it) but the server has no watch.
          current.conn = null;
          pollTask(id);
        } else {
          setStreamState('Output');
          if (err) setMessage($('tv-error'), 'Live output stopped: ' + err.message);
        }
      }
    },
    shouldReconnect: () => !!(current && current.id === id && current.task && current.task.status === 'running'),
  });
}

function closeView() {
  if (current) {
    if (current.conn) current.conn.close();
    clearInterval(current.poll);
  }
  current = null;
  $('task-view').hidden = true;
  $('tv-attach-info').hidden = true;
  history.replaceState(history.state, '', location.pathname + location.search);
  renderList();
}

/** Opens the task view for `id`; `focus` moves keyboard focus to it. */
export async function open(id, focus = false) {
  if (current && current.id === id) {
    if (focus) $('tv-title').focus();
    return;
  }
  closeView();
  current = { id, task: null, conn: null, poll: null, bytes: 0, renderer: new AnsiRenderer($('tv-output')), shownState: null };
  history.replaceState(history.state, '', location.pathname + location.search + '#task=' + encodeURIComponent(id));
  $('tv-load-full').hidden = true;
  $('tv-attach-info').hidden = true;
  setMessage($('tv-error'), '');
  setStreamState('Loading…');
  renderList();
  let t;
  try {
    t = await get(`/api/claude/tasks/${encodeURIComponent(id)}`);
  } catch (e) {
    if (!current || current.id !== id) return;
    $('task-view').hidden = false;
    $('tv-id').textContent = id;
    setMessage($('tv-error'), 'Could not open the task: ' + e.message);
    setStreamState('Output');
    return;
  }
  if (!current || current.id !== id) return;
  renderTask(t);
  if (focus) {
    $('tv-title').setAttribute('tabindex', '-1');
    $('tv-title').focus();
    $('task-view').scrollIntoView({ block: 'nearest' });
  }
  if (t.status === 'running') {
    watch(id);
  } else {
    // Finished: the saved log is the whole story.
    setStreamState('Output (session ended)');
    await loadFullOutput();
  }
}

function initForm() {
  const form = $('new-task');
  const prompt = $('task-prompt');
  prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('new-task-error');
    const text = prompt.value;
    if (!text.trim()) {
      setMessage(err, 'Write a prompt for the agent first.');
      prompt.setAttribute('aria-invalid', 'true');
      prompt.focus();
      return;
    }
    prompt.removeAttribute('aria-invalid');
    setMessage(err, '');
    const body = { prompt: text };
    const wd = $('task-workdir').value.trim();
    if (wd) body.workdir = wd;
    await busy($('task-submit'), async () => {
      try {
        const t = await post('/api/claude/tasks', body);
        prompt.value = '';
        announce('Task started');
        tasks = [t, ...tasks.filter((x) => x.task_id !== t.task_id)];
        renderList();
        open(t.task_id);
        refreshList();
      } catch (e) {
        setMessage(err, 'Could not start the task: ' + e.message);
      }
    });
  });
}

function initView() {
  $('tv-close').addEventListener('click', () => {
    const id = current && current.id;
    closeView();
    const row = id && $('task-list').querySelector(`[data-task-id="${CSS.escape(id)}"]`);
    if (row) row.focus();
  });
  $('tv-load-full').addEventListener('click', loadFullOutput);
  $('tv-follow').addEventListener('change', followScroll);

  $('tv-message').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!current) return;
    const input = $('tv-message-input');
    const text = input.value;
    if (!text.trim()) return;
    const id = current.id;
    setMessage($('tv-error'), '');
    await busy($('tv-send'), async () => {
      try {
        const t = await post(`/api/claude/tasks/${encodeURIComponent(id)}/message`, { prompt: text });
        input.value = '';
        if (current && current.id === id) renderTask({ ...current.task, ...t, recent_output: undefined });
        announce('Message sent');
      } catch (e) {
        setMessage($('tv-error'), 'Could not send the message: ' + e.message);
      }
    });
    input.focus();
  });

  // Kill asks once more on the same button, so a stray click or Enter
  // cannot end a session.
  const kill = $('tv-kill');
  let armed = null;
  kill.addEventListener('click', async () => {
    if (!current) return;
    if (!armed) {
      kill.textContent = 'Confirm kill';
      kill.classList.add('armed');
      armed = setTimeout(() => {
        armed = null;
        kill.textContent = 'Kill';
        kill.classList.remove('armed');
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    kill.textContent = 'Kill';
    kill.classList.remove('armed');
    const id = current.id;
    setMessage($('tv-error'), '');
    await busy(kill, async () => {
      try {
        const r = await del(`/api/claude/tasks/${encodeURIComponent(id)}`);
        announce('Task killed');
        if (current && current.id === id && current.task) {
          renderTask({ ...current.task, status: r.status || 'killed', status_detail: 'unspecified', killed_at: r.killed_at, finished_at: current.task.finished_at || r.killed_at });
        }
        refreshList();
      } catch (e) {
        setMessage($('tv-error'), 'Could not kill the task: ' + e.message);
      }
    });
  });

  $('tv-attach').addEventListener('click', (ev) =>
    busy(ev.currentTarget, async () => {
      if (!current) return;
      const id = current.id;
      setMessage($('tv-error'), '');
      try {
        const r = await post(`/api/claude/tasks/${encodeURIComponent(id)}/prepare-terminal`, {});
        const session = r.session || (current.task && current.task.tmux_session) || `claude-${id}`;
        const info = $('tv-attach-info');
        $('tv-attach-cmd').textContent = `tmux attach -t ${session}`;
        if (oauth || isUp('terminal')) {
          window.open(base + '/terminal', '_blank', 'noopener');
          $('tv-attach-text').textContent = 'The terminal opened in a new tab attaches to this session. From a shell in the workspace you can also run:';
        } else {
          $('tv-attach-text').textContent = 'No web terminal here. Attach from a shell on this machine (add -S <socket> if kc-server uses a private tmux socket):';
        }
        info.hidden = false;
      } catch (e) {
        setMessage($('tv-error'), 'Could not prepare the terminal: ' + e.message);
      }
    }),
  );

  for (const btn of document.querySelectorAll('[data-copy]')) {
    btn.addEventListener('click', async () => {
      const src = $(btn.dataset.copy);
      const ok = await copyText(src.textContent);
      flashLabel(btn, ok ? 'Copied' : 'Copy failed');
    });
  }
}

/** Wires the form and view; safe before the page holds credentials. */
export function wire() {
  initForm();
  initView();
  $('tasks-refresh').addEventListener('click', (ev) => busy(ev.currentTarget, refreshList));
  $('tasks-filter').addEventListener('change', renderList);
}

/** Starts reading tasks; `params` are the fragment's (`task=<id>` opens one). */
export function start(params) {
  refreshList();
  listTimer = setInterval(() => {
    if (!document.hidden) refreshList();
  }, LIST_EVERY_MS);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refreshList();
  });
  const id = params && params.get('task');
  if (id) open(id);
}

export function stop() {
  clearInterval(listTimer);
}
