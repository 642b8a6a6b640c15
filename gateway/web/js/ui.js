// Page-wide feedback: polite announcements for screen readers, and the "paste your API token"
// panel shown when the API answers 401.

import { $ } from './util.js';
import { oauth, setToken, getToken } from './api.js';

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
