// The dashboard's entry point: takes the token from the URL fragment (local
// runs), starts each section, and keeps relative times current.

import { takeTokenFromFragment, onUnauthorized, oauth, getToken } from './api.js';
import { refreshTimes } from './util.js';
import { initAuthPanel, showAuth } from './ui.js';
import * as metrics from './metrics.js';
import * as services from './services.js';
import * as github from './github.js';
import * as tasks from './tasks.js';
import * as token from './token.js';

const params = takeTokenFromFragment();

document.getElementById('host-name').textContent = location.host;
document.getElementById('api-mode').textContent = oauth
  ? 'signed in through the workspace proxy'
  : 'local session (API token)';

let started = false;
function startAll() {
  if (started) {
    // A new token: restart everything that needs it.
    metrics.start();
    github.refresh();
    tasks.refreshList();
    return;
  }
  started = true;
  metrics.init();
  github.refresh();
  tasks.start(params);
}

onUnauthorized(() => showAuth());
initAuthPanel(startAll);

// /health needs no credentials; the token panel explains itself.
services.init();
token.init();
github.wire();
tasks.wire();
if (!oauth && !getToken()) showAuth();
else startAll();

setInterval(refreshTimes, 15000);
