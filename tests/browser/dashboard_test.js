#!/usr/bin/env node
// Drives the workspace dashboard in Debian's headless Chromium through
// playwright-core (which never downloads a browser here: executablePath is
// set) against a running API: the real kc-gateway + kc-server stack, or the
// mock in this directory. Each check is counted; the last line is
// `N passed, M failed`, and the exit status is non-zero when any failed.
//
// Environment:
//   KC_URL          the gateway's base URL, such as http://127.0.0.1:6080 (required)
//   KC_TOKEN        the API token (required)
//   KC_OUT          where screenshots go (default $TEST_UNDECLARED_OUTPUTS_DIR or .)
//   KC_ECHO         a regular expression the agent's output must match after the
//                   prompt was delivered; "{prompt}" stands for the prompt
//                   (default: the prompt itself)
//   KC_EXPECT_ANSI  1: the agent colours its output; check spans were made
//   KC_MOCK         1: the API is mock_server.js; also run checks that need its test hooks
//   KC_OAUTH        1: also load /oauth/ with proxy identity headers and read and
//                   regenerate the token there (run last: the old token dies)
//   KC_OAUTH_URL    where /oauth/ is served with an identity (the auth proxy's
//                   stand-in on a live stack); default KC_URL
//   KC_BAD_WORKDIR  a workdir that does not exist (default /nonexistent-kc-test)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   PLAYWRIGHT_CORE where playwright-core is (default /opt/kube-coder-tools/node_modules/playwright-core)

'use strict';
const fs = require('fs');
const path = require('path');

const { chromium } = require(process.env.PLAYWRIGHT_CORE || '/opt/kube-coder-tools/node_modules/playwright-core');

const URL_BASE = (process.env.KC_URL || '').replace(/\/$/, '');
// Where /oauth/ is served with an identity: the auth proxy (its stand-in
// on a live stack), else the same server (the mock honours the headers).
const OAUTH_BASE = (process.env.KC_OAUTH_URL || URL_BASE).replace(/\/$/, '');
const TOKEN = process.env.KC_TOKEN || '';
const OUT = process.env.KC_OUT || process.env.TEST_UNDECLARED_OUTPUTS_DIR || '.';
const ECHO = process.env.KC_ECHO || '{prompt}';
const BAD_WORKDIR = process.env.KC_BAD_WORKDIR || '/nonexistent-kc-test';
if (!URL_BASE || !TOKEN) {
  console.error('dashboard_test: set KC_URL and KC_TOKEN');
  process.exit(2);
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e && e.message ? e.message.split('\n')[0] : e}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// How long a wait for the page may take. Generous: on a loaded 2-core
// machine (CI beside other builds) chromium, the server and the page's 5 s
// list poll each stall for seconds; a wait that passes returns at once.
const WAIT = Number(process.env.KC_BROWSER_WAIT_MS) || 30000;

/** Polls fn() until it returns a truthy value or `ms` pass. */
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? ': ' + last.message : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** Collects console errors, page errors and CSP violations of a page. */
// A deliberate failed call logs "Failed to load resource" too; while one is
// expected, its console line goes to `expected` instead.
let expecting = null;
function watchConsole(page, list) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expecting && /Failed to load resource|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(m.text())) expecting.push(m.text());
    else list.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => list.push(`pageerror: ${e.message}`));
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  // playwright gives each launch a fresh profile in $TMPDIR (the test's own).
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS });
  const errors = [];
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const page = await ctx.newPage();
  watchConsole(page, errors);
  page.setDefaultTimeout(WAIT);

  const prompt = `say hello to the browser test ${Math.random().toString(16).slice(2, 8)}`;
  const followup = `and now a follow-up ${Math.random().toString(16).slice(2, 8)}`;
  const echoRe = (text) => new RegExp(ECHO.split('{prompt}').map(escapeRe).join(escapeRe(text)));
  let taskId = '';

  await check('page loads and strips the token from the address bar', async () => {
    const res = await page.goto(`${URL_BASE}/#token=${encodeURIComponent(TOKEN)}`);
    assert(res && res.ok(), `GET / answered ${res && res.status()}`);
    await page.waitForSelector('#metric-cpu');
    await until(() => !page.url().includes('token='), 3000, 'the fragment to be stripped');
    assert(await page.locator('#auth-panel').isHidden(), 'the auth panel is shown although a token was given');
  });

  if (failed) {
    // Nothing else can pass when the page did not load: say so once.
    await browser.close();
    return;
  }

  await check('metrics show numbers', async () => {
    for (const k of ['cpu', 'memory', 'disk']) {
      const v = await until(async () => {
        const t = (await page.textContent(`#metric-${k} [data-field=value]`)).trim();
        return /^\d+(\.\d+)?$/.test(t) ? t : null;
      }, WAIT, `a ${k} figure`);
      assert(parseFloat(v) >= 0 && parseFloat(v) <= 100, `${k} ${v} is not a percent`);
    }
    const detail = await page.textContent('#metric-memory [data-field=detail]');
    assert(/\d/.test(detail), `memory detail has no figures: ${detail}`);
  });

  await check('metrics update from the stream', async () => {
    const points = async () => ((await page.getAttribute('#metric-cpu .spark polyline', 'points')) || '').split(' ').filter(Boolean).length;
    const before = await points();
    await until(async () => (await points()) >= Math.max(before + 2, 3), 8000, 'two more samples');
    assert((await page.getAttribute('#stream-pill', 'data-state')) === 'ok', 'the stream pill is not ok');
  });

  if (process.env.KC_MOCK === '1') {
    await check('the metrics stream reconnects after the server drops it', async () => {
      const states = [];
      await page.exposeFunction('__pill', (s) => states.push(s));
      await page.evaluate(() => {
        const pill = document.getElementById('stream-pill');
        new MutationObserver(() => window.__pill(pill.dataset.state)).observe(pill, { attributes: true });
      });
      // The browser logs the cut stream (ERR_INCOMPLETE_CHUNKED_ENCODING): expected here.
      expecting = [];
      const r = await page.request.post(`${URL_BASE}/__test/drop-streams`);
      assert(r.ok(), 'the mock refused to drop streams');
      await until(() => states.includes('warn'), 5000, 'the reconnecting state');
      await until(async () => (await page.getAttribute('#stream-pill', 'data-state')) === 'ok', 8000, 'live again');
      expecting = null;
      const points = ((await page.getAttribute('#metric-cpu .spark polyline', 'points')) || '').split(' ').length;
      await until(async () => ((await page.getAttribute('#metric-cpu .spark polyline', 'points')) || '').split(' ').length > points, 5000, 'samples after reconnecting');
    });
  }

  await check('services are listed with their state', async () => {
    // The services this workspace probes, as the API reports them: the
    // chart probes only what its values enable (the local pod has no browser).
    const health = await (await fetch(`${URL_BASE}/health`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
    const names = Object.keys(health.services || {});
    assert(names.length >= 2 && names.includes('vscode'), `/health lists ${JSON.stringify(names)}`);
    await until(async () => (await page.locator('#service-list li.service').count()) === names.length, 8000,
      `${names.length} services`);
    for (const s of names) {
      const st = await page.getAttribute(`#service-list [data-service=${s}]`, 'data-state');
      assert(st === 'up' || st === 'down', `${s} state is ${st}`);
    }
    const pill = await page.getAttribute('#health-pill', 'data-state');
    assert(pill === 'ok' || pill === 'warn', `health pill is ${pill}`);
  });

  await check('a failed call shows the server\u2019s error text', async () => {
    expecting = [];
    await page.fill('#task-prompt', 'this task must not start');
    await page.click('#new-task summary');
    await page.fill('#task-workdir', BAD_WORKDIR);
    await page.click('#task-submit');
    const msg = await until(async () => {
      const el = page.locator('#new-task-error');
      return (await el.isVisible()) ? (await el.textContent()).trim() : null;
    }, WAIT, 'the error message');
    assert(/^Could not start the task: .{3,}/.test(msg), `unexpected message: ${msg}`);
    assert(!/^Could not start the task: \d{3} /.test(msg), `no server text, only a status: ${msg}`);
    await page.fill('#task-workdir', '');
    await until(() => expecting.length > 0, 2000, 'the failed request in the console').catch(() => {});
    expecting = null;
  });

  await check('a task created from the form appears in the list', async () => {
    await page.fill('#task-prompt', prompt);
    await page.click('#task-submit');
    const row = page.locator('#task-list .task-row', { hasText: prompt });
    await row.waitFor({ timeout: WAIT });
    taskId = await row.getAttribute('data-task-id');
    assert(/^\d+-[0-9a-f]{8}$/.test(taskId), `bad task id ${taskId}`);
    assert((await page.inputValue('#task-prompt')) === '', 'the prompt was not cleared');
    await page.locator('#task-view').waitFor();
    assert((await page.textContent('#tv-id')) === taskId, 'the task view shows another task');
  });

  await check('the task output shows the agent\u2019s echo', async () => {
    const re = echoRe(prompt);
    await until(async () => re.test(await page.textContent('#tv-output')), 30000, `output matching ${re}`);
    assert(!(await page.textContent('#tv-output')).includes('\x1b'), 'raw escape characters in the output');
    if (process.env.KC_EXPECT_ANSI === '1') {
      assert((await page.locator('#tv-output span[class*=ansi-]').count()) > 0, 'no coloured spans');
    }
  });

  await check('the task shows a running state', async () => {
    const s = await until(async () => {
      const t = (await page.textContent('#tv-status')).trim();
      return ['starting', 'working', 'waiting for input', 'running'].includes(t) ? t : null;
    }, WAIT, 'a running state');
    assert(s, 'no state');
    const listBadge = (await page.textContent(`#task-list [data-task-id="${taskId}"] .badge`)).trim();
    assert(['starting', 'working', 'waiting for input', 'running'].includes(listBadge), `list badge is ${listBadge}`);
  });

  await check('a follow-up arrives', async () => {
    // Wait until the agent is ready for input when the server can tell.
    await until(async () => (await page.textContent('#tv-status')).trim() === 'waiting for input', 15000, 'waiting for input').catch(() => {});
    await page.fill('#tv-message-input', followup);
    await page.click('#tv-send');
    await page.locator('#tv-followups li', { hasText: followup }).waitFor({ timeout: WAIT });
    const re = echoRe(followup);
    await until(async () => re.test(await page.textContent('#tv-output')), 30000, `output matching ${re}`);
    // The box clears when the POST answers, which on a slow (sanitized)
    // server can come after the watch stream has already shown the echo.
    await until(async () => (await page.inputValue('#tv-message-input')) === '', WAIT, 'the message box to clear');
  });

  await check('output renderer: colours, split escapes, carriage returns, no markup injection', async () => {
    const r = await page.evaluate(async () => {
      const { AnsiRenderer } = await import('./js/ansi.js');
      const pre = document.createElement('pre');
      const ren = new AnsiRenderer(pre);
      ren.write('\x1b[1;3');
      ren.write('1mred\x1b[0m plain \x1b[38;5;208morange\x1b[39m \x1b[38;2;1;2;3mrgb\x1b[m\n');
      ren.write('50%\r100%\r\n');
      ren.write('\x1b]0;title\x07\x1b[?2004h\x1b[2K<img src=x onerror="window.__pwned=1">\n');
      const spans = [...pre.querySelectorAll('span')].map((s) => [s.className, s.style.color, s.textContent]);
      return { text: pre.textContent, spans, imgs: pre.querySelectorAll('img').length, pwned: !!window.__pwned };
    });
    assert(r.text === 'red plain orange rgb\n100%\n<img src=x onerror="window.__pwned=1">\n', `text is ${JSON.stringify(r.text)}`);
    assert(r.imgs === 0 && !r.pwned, 'markup in output became elements');
    const red = r.spans.find((s) => s[2] === 'red');
    assert(red && red[0].includes('ansi-fg-1') && red[0].includes('ansi-bold'), `red span: ${JSON.stringify(red)}`);
    const orange = r.spans.find((s) => s[2] === 'orange');
    assert(orange && orange[1] === 'rgb(255, 135, 0)', `256-colour span: ${JSON.stringify(orange)}`);
    const rgb = r.spans.find((s) => s[2] === 'rgb');
    assert(rgb && rgb[1] === 'rgb(1, 2, 3)', `24-bit span: ${JSON.stringify(rgb)}`);
  });

  await check('desktop screenshot', async () => {
    await page.screenshot({ path: path.join(OUT, 'dashboard-desktop.png'), fullPage: true });
  });

  await check('attach prepares the terminal and shows the session', async () => {
    const popup = page.waitForEvent('popup', { timeout: 1500 }).catch(() => null);
    await page.click('#tv-attach');
    await page.locator('#tv-attach-info').waitFor({ timeout: WAIT });
    const cmd = await page.textContent('#tv-attach-cmd');
    assert(cmd.includes(`claude-${taskId}`), `attach command is ${cmd}`);
    const p = await popup;
    if (p) await p.close();
  });

  await check('phone layout (390\u00d7844) fits and shows the task', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const pp = await phone.newPage();
    watchConsole(pp, errors);
    await pp.goto(`${URL_BASE}/#token=${encodeURIComponent(TOKEN)}&task=${encodeURIComponent(taskId)}`);
    await pp.locator('#task-view').waitFor();
    await until(async () => echoRe(prompt).test(await pp.textContent('#tv-output')), WAIT, 'output on the phone');
    await until(async () => /^\d/.test((await pp.textContent('#metric-cpu [data-field=value]')).trim()), WAIT, 'metrics on the phone');
    // A mobile viewport widens itself to fit content, so compare with 390.
    const overflow = await pp.evaluate(() => Math.max(document.documentElement.scrollWidth, window.innerWidth) - 390);
    await pp.screenshot({ path: path.join(OUT, 'dashboard-phone.png'), fullPage: true });
    await pp.screenshot({ path: path.join(OUT, 'dashboard-phone-top.png') });
    await phone.close();
    assert(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  });

  await check('Kill changes the task\u2019s status', async () => {
    await page.click('#tv-kill');
    assert((await page.textContent('#tv-kill')).trim() === 'Confirm kill', 'kill did not ask for confirmation');
    await page.click('#tv-kill');
    await until(async () => (await page.textContent('#tv-status')).trim() === 'killed', WAIT, 'status killed');
    await until(async () => (await page.textContent(`#task-list [data-task-id="${taskId}"] .badge`)).trim() === 'killed', WAIT, 'list shows killed');
    assert(await page.locator('#tv-send').isDisabled(), 'follow-ups still enabled on a killed task');
    await page.selectOption('#tasks-filter', 'running');
    assert((await page.locator(`#task-list [data-task-id="${taskId}"]`).count()) === 0, 'the running filter shows a killed task');
    await page.selectOption('#tasks-filter', 'finished');
    assert((await page.locator(`#task-list [data-task-id="${taskId}"]`).count()) === 1, 'the finished filter hides a killed task');
    await page.selectOption('#tasks-filter', 'all');
  });

  await check('the token panel shows the token', async () => {
    await page.click('#token-show');
    await page.locator('#token-box').waitFor();
    assert((await page.inputValue('#token-value')) === TOKEN, 'a different token is shown');
  });

  await check('keyboard: Ctrl+Enter starts a task, Tab moves a visible focus ring', async () => {
    const kbPrompt = `keyboard task ${Math.random().toString(16).slice(2, 8)}`;
    await page.focus('#task-prompt');
    await page.keyboard.type(kbPrompt);
    await page.keyboard.press('Control+Enter');
    await page.locator('#task-list .task-row', { hasText: kbPrompt }).waitFor({ timeout: WAIT });
    await page.focus('#task-prompt');
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      const cs = getComputedStyle(el);
      return { tag: el.tagName, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
    });
    assert(f.tag !== 'BODY', 'Tab left the page');
    assert(f.style !== 'none' && f.width > 0, `no focus ring on ${f.tag}: ${f.style} ${f.width}`);
    // Stop that task again so the stack is left as it was.
    await page.locator('#task-list .task-row', { hasText: kbPrompt }).click();
    await until(async () => (await page.textContent('#tv-prompt')) === kbPrompt, WAIT, 'the keyboard task view');
    await until(async () => !(await page.locator('#tv-kill').isDisabled()), WAIT, 'kill enabled');
    await page.click('#tv-kill');
    await page.click('#tv-kill');
    await until(async () => (await page.textContent('#tv-status')).trim() === 'killed', WAIT, 'killed');
  });

  await check('GitHub: the git identity form validates, then saves', async () => {
    await page.fill('#git-name', 'Browser Test');
    await page.fill('#git-email', 'not-an-email');
    await page.click('#git-form button[type=submit]');
    await page.locator('#git-form-error').waitFor();
    assert((await page.getAttribute('#git-email', 'aria-invalid')) === 'true', 'the bad email is not marked');
    await page.fill('#git-email', 'browser-test@example.com');
    await page.click('#git-form button[type=submit]');
    const ok = await until(async () => {
      const el = page.locator('#git-form-ok');
      return (await el.isVisible()) ? await el.textContent() : null;
    }, WAIT, 'the saved message');
    assert(ok.includes('browser-test@example.com'), `saved message: ${ok}`);
    assert(await page.locator('#git-form-error').isHidden(), 'the error stayed');
  });

  await check('GitHub: an SSH key is generated and its public key shown', async () => {
    if (await page.locator('#ssh-form').isHidden()) return; // a key already exists
    await page.fill('#ssh-email', 'browser-test@example.com');
    await page.click('#ssh-form button[type=submit]');
    await page.locator('#ssh-present').waitFor({ timeout: WAIT });
    const pub = await page.inputValue('#ssh-pub');
    assert(/^ssh-ed25519 \S+/.test(pub), `public key: ${pub.slice(0, 40)}`);
    assert(/^SHA256:/.test(await page.textContent('#ssh-fp')), 'no fingerprint');
  });

  await check('dark theme screenshot', async () => {
    const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    const dp = await dark.newPage();
    watchConsole(dp, errors);
    await dp.goto(`${URL_BASE}/#token=${encodeURIComponent(TOKEN)}&task=${encodeURIComponent(taskId)}`);
    await dp.locator('#task-view').waitFor();
    // The task was killed: its saved output is read back, not streamed.
    await until(async () => echoRe(followup).test(await dp.textContent('#tv-output')), WAIT, 'the killed task\u2019s saved output');
    await until(async () => /^\d/.test((await dp.textContent('#metric-cpu [data-field=value]')).trim()), WAIT, 'metrics');
    const bg = await dp.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await dp.screenshot({ path: path.join(OUT, 'dashboard-desktop-dark.png'), fullPage: true });
    await dark.close();
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert(r + g + b < 150, `dark theme background is ${bg}`);
  });

  await check('no console errors, page errors or CSP violations', async () => {
    assert(errors.length === 0, errors.slice(0, 5).join(' | '));
  });

  // Expected 401s below make console errors of their own: separate list.
  await check('a wrong token shows the "paste your API token" prompt, and pasting fixes it', async () => {
    const c2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p2 = await c2.newPage();
    await p2.goto(`${URL_BASE}/#token=wrong-token`);
    await p2.locator('#auth-panel').waitFor({ timeout: WAIT });
    assert(/token/i.test(await p2.textContent('#auth-title')), 'no token prompt');
    await p2.fill('#auth-token', TOKEN);
    await p2.press('#auth-token', 'Enter');
    await until(async () => /^\d/.test((await p2.textContent('#metric-cpu [data-field=value]')).trim()), WAIT, 'metrics after pasting');
    assert(await p2.locator('#auth-panel').isHidden(), 'the prompt stayed');
    await c2.close();
  });

  if (process.env.KC_OAUTH === '1') {
    await check('behind the proxy (/oauth/): token shown, regenerated after confirmation', async () => {
      const c3 = await browser.newContext({ viewport: { width: 1280, height: 800 }, extraHTTPHeaders: { 'X-Auth-Request-User': 'browser-test', 'X-Auth-Request-Email': 'browser-test@example.com' } });
      const p3 = await c3.newPage();
      const e3 = [];
      watchConsole(p3, e3);
      await p3.goto(`${OAUTH_BASE}/oauth/`);
      await until(async () => /^\d/.test((await p3.textContent('#metric-cpu [data-field=value]')).trim()), WAIT, 'metrics through /oauth');
      await p3.click('#token-show');
      await p3.locator('#token-box').waitFor();
      assert((await p3.inputValue('#token-value')) === TOKEN, 'the /oauth token differs');
      await p3.click('#token-regen');
      await p3.locator('#token-confirm').waitFor();
      await p3.click('#token-regen-yes');
      const fresh = await until(async () => {
        const v = await p3.inputValue('#token-value');
        return v && v !== TOKEN ? v : null;
      }, WAIT, 'a new token');
      assert(fresh.length >= 40, `new token is short: ${fresh.length}`);
      assert(e3.length === 0, e3.slice(0, 3).join(' | '));
      await c3.close();
    });
  }

  await browser.close();
}

main()
  .catch((e) => {
    failed += 1;
    console.log(`FAIL harness: ${e && e.stack ? e.stack : e}`);
  })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });
