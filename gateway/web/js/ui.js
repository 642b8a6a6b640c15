// Page-wide feedback: toasts for failed calls (with the server's text),
// polite announcements for screen readers, and the "paste your API token"
// panel shown when the API answers 401.

import { $, h } from './util.js';
import { oauth, setToken, getToken } from './api.js';

/** Shows a failed call's message for a while; `what` says which action. */
export function toastError(what, err) {
  const msg = err && err.message ? err.message : String(err);
  const box = $('toasts');
  const close = h('button', { type: 'button', className: 'ghost small', textContent: 'Dismiss' });
  const t = h('div', { className: 'toast' }, h('strong', { textContent: what + ': ' }), msg, close);
  close.addEventListener('click', () => t.remove());
  box.append(t);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => t.remove(), 12000);
}

let lastAnnouncement = '';
/** Says `text` through the polite live region (deduplicated). */
export function announce(text) {
  if (!text || text === lastAnnouncement) return;
  lastAnnouncement = text;
  $('announcer').textContent = text;
}

let onNewToken = () => {};
let authShown = false;

/** Wires the auth panel; `retry` is called after a token is pasted. */
export function initAuthPanel(retry) {
  onNewToken = retry;
  $('auth-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('auth-token').value.trim();
    if (!v) return;
    setToken(v);
    $('auth-token').value = '';
    hideAuth();
    onNewToken();
  });
}

export function showAuth() {
  if (authShown) return;
  authShown = true;
  const panel = $('auth-panel');
  if (oauth) {
    $('auth-title').textContent = 'Your sign-in has expired';
    $('auth-text').textContent = 'The workspace API refused this browser session. Reload the page to sign in again.';
    $('auth-form').hidden = true;
  } else if (getToken()) {
    $('auth-text').textContent =
      'The workspace API refused the token this tab holds (it may have been regenerated). Paste the current API token.';
  }
  panel.hidden = false;
  if (!oauth) $('auth-token').focus();
}

export function hideAuth() {
  authShown = false;
  $('auth-panel').hidden = true;
}

export function authVisible() {
  return authShown;
}
