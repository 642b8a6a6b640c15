// The GitHub section: SSH key (show, copy, generate), git identity form,
// gh CLI status and login instructions, GitHub App token state.

import { get, post } from './api.js';
import { $, h, setMessage, copyText, flashLabel, busy, relTime } from './util.js';
import { announce } from './ui.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function badge(el, ok, yes, no) {
  el.textContent = ok ? yes : no;
  el.dataset.state = ok ? 'ok' : 'warn';
}

function render(s) {
  const ssh = s.ssh || {};
  badge($('ssh-state'), ssh.configured, 'configured', 'none');
  $('ssh-present').hidden = !ssh.configured;
  $('ssh-form').hidden = !!ssh.configured;
  if (ssh.configured) {
    $('ssh-type').textContent = ssh.key_type || 'key';
    $('ssh-fp').textContent = ssh.key_fingerprint || '';
    $('ssh-pub').value = ssh.public_key || '';
  }

  const git = s.git_config || {};
  // Fill the form only when the person is not editing it.
  const form = $('git-form');
  if (!form.contains(document.activeElement)) {
    $('git-name').value = git.user_name || '';
    $('git-email').value = git.user_email || '';
  }

  const gh = s.gh_cli || {};
  if (!gh.installed) {
    badge($('gh-state'), false, '', 'not installed');
    $('gh-text').textContent = 'The gh command is not installed in this workspace.';
  } else if (gh.authenticated) {
    badge($('gh-state'), true, 'logged in', '');
    $('gh-text').textContent = gh.username ? `Logged in as ${gh.username}.` : 'Logged in.';
  } else {
    badge($('gh-state'), false, '', 'not logged in');
    $('gh-text').textContent = 'gh is installed but not logged in.';
  }
  $('gh-actions').hidden = !gh.installed || !!gh.authenticated;
  if (gh.authenticated) $('gh-login-info').hidden = true;

  const app = s.github_app || {};
  $('app-card').hidden = !app.configured;
  if (app.configured) {
    badge($('app-state'), app.token_valid, 'valid', app.last_error ? 'failing' : 'no token');
    const kv = $('app-kv');
    kv.textContent = '';
    const row = (k, v) => {
      if (v) kv.append(h('dt', { textContent: k }), h('dd', { textContent: v }));
    };
    if (typeof app.expires_at === 'number') {
      const left = app.expires_at - Date.now() / 1000;
      row('Expires', left > 0 ? `in ${Math.round(left / 60)} min` : 'expired');
    }
    if (typeof app.refreshed_at === 'number') row('Refreshed', relTime(app.refreshed_at));
    row('Token file', app.token_path);
    row('Last error', app.last_error);
  }
}

export async function refresh() {
  try {
    render(await get('/api/github/status'));
    setMessage($('gh-error'), '');
  } catch (e) {
    setMessage($('gh-error'), 'Could not read the GitHub set-up: ' + e.message);
  }
}

/** Wires the forms and buttons; safe before the page holds credentials. */
export function wire() {
  $('gh-refresh').addEventListener('click', (ev) => busy(ev.currentTarget, refresh));

  $('ssh-copy').addEventListener('click', async (ev) => {
    const ok = await copyText($('ssh-pub').value, $('ssh-pub'));
    flashLabel(ev.currentTarget, ok ? 'Copied' : 'Press Ctrl+C');
  });

  $('ssh-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = $('ssh-email').value.trim();
    const err = $('ssh-form-error');
    if (!EMAIL.test(email)) {
      setMessage(err, 'Enter the email address of your GitHub account.');
      $('ssh-email').setAttribute('aria-invalid', 'true');
      $('ssh-email').focus();
      return;
    }
    $('ssh-email').removeAttribute('aria-invalid');
    setMessage(err, '');
    await busy(ev.submitter || ev.target.querySelector('button'), async () => {
      try {
        await post('/api/github/ssh/generate', { email });
        announce('SSH key generated');
        await refresh();
      } catch (e) {
        setMessage(err, 'Could not generate the key: ' + e.message);
      }
    });
  });

  $('git-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('git-name').value.trim();
    const email = $('git-email').value.trim();
    const err = $('git-form-error');
    setMessage($('git-form-ok'), '');
    const problems = [];
    $('git-name').removeAttribute('aria-invalid');
    $('git-email').removeAttribute('aria-invalid');
    if (!name || /[\r\n]/.test(name)) {
      problems.push('a name on one line');
      $('git-name').setAttribute('aria-invalid', 'true');
    }
    if (!EMAIL.test(email)) {
      problems.push('a valid email address');
      $('git-email').setAttribute('aria-invalid', 'true');
    }
    if (problems.length) {
      setMessage(err, 'Enter ' + problems.join(' and ') + '.');
      (name ? $('git-email') : $('git-name')).focus();
      return;
    }
    setMessage(err, '');
    await busy(ev.submitter || ev.target.querySelector('button'), async () => {
      try {
        const res = await post('/api/github/config', { name, email });
        setMessage($('git-form-ok'), `Saved: ${res.user_name || name} <${res.user_email || email}>`);
      } catch (e) {
        setMessage(err, 'Could not save: ' + e.message);
      }
    });
  });

  $('gh-login').addEventListener('click', (ev) =>
    busy(ev.currentTarget, async () => {
      try {
        const r = await post('/api/github/cli/login-url', {});
        $('gh-login-text').textContent = r.instructions || 'Run this in the workspace terminal:';
        $('gh-login-cmd').textContent = r.command || 'gh auth login';
        const a = $('gh-login-url');
        if (r.url && /^https?:\/\//.test(r.url)) {
          a.href = r.url;
          a.textContent = r.url;
          a.hidden = false;
        } else a.hidden = true;
        $('gh-login-info').hidden = false;
        setMessage($('gh-error'), '');
      } catch (e) {
        setMessage($('gh-error'), 'Could not get login instructions: ' + e.message);
      }
    }),
  );

  $('gh-complete').addEventListener('click', (ev) =>
    busy(ev.currentTarget, async () => {
      try {
        const r = await post('/api/github/cli/complete-auth', {});
        if (r.authenticated) announce(`gh is logged in${r.username ? ' as ' + r.username : ''}`);
        else setMessage($('gh-error'), 'gh is not logged in yet. Finish the steps above, then try again.');
        await refresh();
      } catch (e) {
        setMessage($('gh-error'), 'Could not check gh: ' + e.message);
      }
    }),
  );
}
