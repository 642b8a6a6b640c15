// The workspace API as the page sees it: where it lives, how to authenticate,
// JSON calls whose failures carry the server's error text, and Server-Sent
// Event streams read with fetch() (EventSource cannot send a bearer header).
//
// Auth (DESIGN §3): behind the OAuth proxy the page lives under /oauth/ and
// every call goes under /oauth, where the proxy's session cookie is the
// credential. Run locally, `make run` prints a link with `#token=…` in the
// fragment; the token is moved to sessionStorage, stripped from the address
// bar, and sent as a bearer.

const TOKEN_KEY = 'kc.api-token';

/** True when the page came through the OAuth proxy. */
export const oauth = location.pathname === '/oauth' || location.pathname.startsWith('/oauth/');

/** Prefix for every API path and service link: "/oauth" or "". */
export const base = oauth ? '/oauth' : '';

/** An API call that failed: `status` is the HTTP status (0 for a network
 * failure) and `message` the server's own error text when it sent one. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const authListeners = new Set();
/** Calls fn(error) whenever the API answers 401. */
export function onUnauthorized(fn) {
  authListeners.add(fn);
}

/**
 * Reads `#token=…` (and leaves any other fragment parameters alone), keeps
 * the token for this tab and removes it from the address bar and history.
 * Returns the other fragment parameters.
 */
export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (token !== null) {
    params.delete('token');
    if (token.trim()) setToken(token.trim());
    const rest = params.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
  }
  return params;
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives only as long as this call */
  }
}

function headers(extra) {
  const h = new Headers(extra || {});
  const token = getToken();
  // Behind the proxy the cookie authenticates; a stale bearer would only
  // confuse the server's choice, so send one only on local runs.
  if (!oauth && token) h.set('Authorization', 'Bearer ' + token);
  return h;
}

/** The error text of a failed response: `{"error": "…"}` when the server
 * sent JSON, its text otherwise, and the status line as a last resort. */
async function errorText(res) {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* body unreadable */
  }
  if (text) {
    try {
      const j = JSON.parse(text);
      if (j && typeof j.error === 'string' && j.error) return j.error;
      if (j && j.error && typeof j.error.message === 'string') return j.error.message;
    } catch {
      /* not JSON */
    }
    const t = text.trim();
    if (t && t.length < 300 && !t.startsWith('<')) return t;
  }
  return `${res.status} ${res.statusText || 'error'}`.trim();
}

function failed(status, message) {
  const err = new ApiError(status, message);
  if (status === 401) for (const fn of authListeners) fn(err);
  return err;
}

/**
 * Calls the API. `path` starts with "/" and is put under the base.
 * Resolves to the parsed JSON (or text for text/plain answers); rejects
 * with an ApiError carrying the server's message.
 */
export async function api(method, path, body, opts = {}) {
  const init = { method, headers: headers(opts.headers), credentials: 'same-origin', signal: opts.signal };
  if (body !== undefined) {
    init.headers.set('Content-Type', 'application/json');
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw failed(0, 'Cannot reach the workspace API (network error).');
  }
  if (!res.ok) throw failed(res.status, await errorText(res));
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('application/json')) {
    try {
      return await res.json();
    } catch {
      throw failed(res.status, 'The server sent malformed JSON.');
    }
  }
  return res.text();
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/**
 * Follows a Server-Sent Events stream of JSON objects, reconnecting with
 * exponential backoff (1 s doubling to 30 s, with jitter) when it drops.
 *
 *   onEvent(obj)       each `data:` payload, parsed
 *   onState(state, e)  'connecting' | 'open' | 'retrying' | 'closed' | 'failed'
 *   shouldReconnect()  asked when the server ends the stream cleanly (a
 *                      finished task's watch ends on purpose); default true
 *
 * Gives up (state 'failed') on 401, 403 and 404, which a retry cannot fix.
 * Returns { close() }.
 */
export function stream(path, { onEvent, onState = () => {}, shouldReconnect = () => true } = {}) {
  let ctrl = null;
  let closed = false;
  let delay = 1000;
  let timer = null;

  const schedule = (why) => {
    if (closed) return;
    onState('retrying', why);
    const wait = Math.min(delay, 30000) * (0.75 + Math.random() * 0.5);
    delay = Math.min(delay * 2, 30000);
    timer = setTimeout(run, wait);
  };

  async function run() {
    if (closed) return;
    ctrl = new AbortController();
    onState('connecting');
    let res;
    try {
      res = await fetch(base + path, {
        headers: headers({ Accept: 'text/event-stream' }),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: ctrl.signal,
      });
    } catch (e) {
      if (closed) return;
      schedule(failed(0, 'Cannot reach the workspace API (network error).'));
      return;
    }
    if (!res.ok) {
      const err = failed(res.status, await errorText(res));
      if ([400, 401, 403, 404].includes(res.status)) {
        closed = true;
        onState('failed', err);
      } else {
        schedule(err);
      }
      return;
    }
    onState('open');
    delay = 1000;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
          if (line === '') {
            if (data.length) {
              const payload = data.join('\n');
              data = [];
              let obj;
              try {
                obj = JSON.parse(payload);
              } catch {
                continue; // not ours to show: skip a malformed event
              }
              try {
                onEvent(obj);
              } catch (e) {
                // A bug in a handler must not kill the stream; still report it.
                setTimeout(() => {
                  throw e;
                });
              }
            }
          } else if (line.startsWith('data:')) {
            data.push(line.slice(line[5] === ' ' ? 6 : 5));
          }
          // `event:`, `id:`, `retry:` and `:` comments (keep-alives) need nothing.
        }
      }
    } catch (e) {
      if (closed) return;
      schedule(failed(0, 'The live stream was interrupted.'));
      return;
    }
    if (closed) return;
    if (shouldReconnect()) schedule(null);
    else {
      closed = true;
      onState('closed');
    }
  }

  run();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (ctrl) ctrl.abort();
    },
  };
}
