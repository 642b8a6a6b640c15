// The API token panel. Behind the OAuth proxy the token is fetched on
// request (GET /oauth/api/claude/auth/token) and can be regenerated after a
// confirmation. On a local run the page already holds the token it was
// opened with; the server lets only an OAuth session regenerate, so the
// panel says so and shows the server's answer if asked anyway.

import { oauth, get, post, getToken, setToken } from './api.js';
import { $, setMessage, copyText, flashLabel, busy } from './util.js';
import { announce } from './ui.js';

function show(token, note) {
  $('token-value').value = token;
  $('token-note').textContent = note;
  $('token-box').hidden = false;
  $('token-show').textContent = 'Hide token';
}

function hide() {
  $('token-value').value = '';
  $('token-box').hidden = true;
  $('token-confirm').hidden = true;
  $('token-show').textContent = 'Show token';
}

export function init() {
  $('token-show').addEventListener('click', (ev) =>
    busy(ev.currentTarget, async () => {
      setMessage($('token-error'), '');
      if (!$('token-box').hidden) {
        hide();
        return;
      }
      if (!oauth) {
        const t = getToken();
        if (!t) {
          setMessage($('token-error'), 'This tab holds no token. Open the link `make run` printed, or paste the token when asked.');
          return;
        }
        show(t, 'The token this tab was opened with. Regenerating needs the OAuth session: open the dashboard at /oauth/ through the workspace proxy.');
        return;
      }
      try {
        const r = await get('/api/claude/auth/token');
        show(r.token || '', 'Keep it secret: it gives full control of this workspace\u2019s tasks.');
      } catch (e) {
        setMessage($('token-error'), 'Could not read the token: ' + e.message);
      }
    }),
  );

  $('token-copy').addEventListener('click', async (ev) => {
    const ok = await copyText($('token-value').value, $('token-value'));
    flashLabel(ev.currentTarget, ok ? 'Copied' : 'Press Ctrl+C');
  });

  $('token-regen').addEventListener('click', () => {
    $('token-confirm').hidden = false;
    $('token-regen-no').focus();
  });
  $('token-regen-no').addEventListener('click', () => {
    $('token-confirm').hidden = true;
    $('token-regen').focus();
  });
  $('token-regen-yes').addEventListener('click', (ev) =>
    busy(ev.currentTarget, async () => {
      setMessage($('token-error'), '');
      try {
        const r = await post('/api/claude/auth/token/regenerate', {});
        if (!oauth) setToken(r.token || '');
        show(r.token || '', 'New token. The old one no longer works.');
        $('token-confirm').hidden = true;
        announce('API token regenerated');
      } catch (e) {
        setMessage($('token-error'), 'Could not regenerate the token: ' + e.message);
        $('token-confirm').hidden = true;
      }
    }),
  );
}
