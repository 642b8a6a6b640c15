// A terminal-like renderer for agent output: ANSI SGR colours (16, 256 and
// 24-bit), bold, dim, italic, underline and inverse become spans; every other
// escape sequence (cursor moves, erase, OSC titles, bracketed-paste modes,
// charset selection) is dropped; a lone carriage return rewrites the current
// line, as progress bars expect. Text only ever enters the DOM as text nodes,
// so task output can never inject markup.
//
// The renderer is incremental: feed it chunks as they arrive; an escape
// sequence split across two chunks is held until it is complete.

const BASIC = 16;

/** The RGB colour of xterm's 256-colour index `n` (16–255). */
function xterm256(n) {
  if (n < 232) {
    const i = n - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    return `rgb(${steps[Math.floor(i / 36)]}, ${steps[Math.floor(i / 6) % 6]}, ${steps[i % 6]})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g}, ${g}, ${g})`;
}

function blankStyle() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };
}

/** Applies one SGR parameter list to `st` (mutated). */
export function applySgr(st, params) {
  const p = params.length ? params : [0];
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0 || Number.isNaN(c)) Object.assign(st, blankStyle());
    else if (c === 1) st.bold = true;
    else if (c === 2) st.dim = true;
    else if (c === 3) st.italic = true;
    else if (c === 4) st.underline = true;
    else if (c === 7) st.inverse = true;
    else if (c === 22) st.bold = st.dim = false;
    else if (c === 23) st.italic = false;
    else if (c === 24) st.underline = false;
    else if (c === 27) st.inverse = false;
    else if (c >= 30 && c <= 37) st.fg = c - 30;
    else if (c === 39) st.fg = null;
    else if (c >= 40 && c <= 47) st.bg = c - 40;
    else if (c === 49) st.bg = null;
    else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      let colour = null;
      if (p[i + 1] === 5 && i + 2 < p.length) {
        const n = p[i + 2];
        if (n >= 0 && n < BASIC) colour = n;
        else if (n >= BASIC && n < 256) colour = xterm256(n);
        i += 2;
      } else if (p[i + 1] === 2 && i + 4 < p.length) {
        const [r, g, b] = [p[i + 2], p[i + 3], p[i + 4]].map((v) => Math.max(0, Math.min(255, v | 0)));
        colour = `rgb(${r}, ${g}, ${b})`;
        i += 4;
      } else {
        break; // malformed: ignore the rest, as terminals do
      }
      if (c === 38) st.fg = colour;
      else st.bg = colour;
    }
    // Anything else (blink, fonts, overline…) is not worth showing.
  }
}

function sameStyle(a, b) {
  return (
    a.fg === b.fg &&
    a.bg === b.bg &&
    a.bold === b.bold &&
    a.dim === b.dim &&
    a.italic === b.italic &&
    a.underline === b.underline &&
    a.inverse === b.inverse
  );
}

function isPlain(st) {
  return sameStyle(st, blankStyle());
}

/**
 * Renders into `pre` (an element). Options: maxLines caps what is kept
 * (older lines are dropped from the top).
 */
export class AnsiRenderer {
  constructor(pre, { maxLines = 5000 } = {}) {
    this.pre = pre;
    this.maxLines = maxLines;
    this.reset();
  }

  reset() {
    this.pre.textContent = '';
    this.style = blankStyle();
    this.pending = ''; // an incomplete escape sequence from the last chunk
    this.lineNodes = []; // nodes written since the last newline
    this.crPending = false; // a lone CR was seen: the next text rewrites the line
    this.lines = 0;
    this.lastNode = null;
    this.lastStyle = null;
  }

  /** Appends raw terminal output. */
  write(chunk) {
    // A line-mode program's tty echoes the bracketed-paste markers that
    // carried its prompt in caret notation ("^[[200~"); they are noise.
    let s = (this.pending + chunk).replace(/\^\[\[20[01]~/g, '');
    this.pending = '';
    let text = '';
    const flush = () => {
      if (text) {
        this.emit(text);
        text = '';
      }
    };
    let i = 0;
    while (i < s.length) {
      const ch = s[i];
      const code = s.charCodeAt(i);
      if (ch === '\x1b') {
        const end = this.escapeEnd(s, i);
        if (end < 0) {
          // Incomplete: keep for the next chunk (bounded, in case it never ends).
          const rest = s.slice(i);
          if (rest.length < 256) this.pending = rest;
          i = s.length;
          break;
        }
        const seq = s.slice(i, end);
        if (seq[1] === '[' && seq.endsWith('m')) {
          flush();
          const body = seq.slice(2, -1);
          if (!/^[0-9;:]*$/.test(body)) {
            i = end;
            continue; // private SGR variants: ignore
          }
          const params = body === '' ? [] : body.split(/[;:]/).map((v) => (v === '' ? 0 : parseInt(v, 10)));
          applySgr(this.style, params);
        }
        i = end;
        continue;
      }
      if (ch === '\r') {
        if (s[i + 1] === '\n') {
          i += 1;
          continue; // CRLF: the LF does the work
        }
        if (i + 1 >= s.length) {
          // A CR at the very end of a chunk: its LF may come next.
          this.pending = '\r';
          i += 1;
          continue;
        }
        flush();
        this.crPending = true;
        i += 1;
        continue;
      }
      if (ch === '\n') {
        text += '\n';
        flush();
        this.newline();
        i += 1;
        continue;
      }
      if (ch === '\b') {
        if (text) text = text.slice(0, -1);
        i += 1;
        continue;
      }
      if (ch === '\t' || code >= 0x20) {
        if (code === 0x7f || (code >= 0x80 && code < 0xa0)) {
          i += 1;
          continue;
        }
        text += ch;
        i += 1;
        continue;
      }
      i += 1; // other C0 controls (bell, NUL…): drop
    }
    flush();
    this.trim();
  }

  /** Where the escape sequence at s[i] ends (exclusive), or -1 if incomplete. */
  escapeEnd(s, i) {
    if (i + 1 >= s.length) return -1;
    const t = s[i + 1];
    if (t === '[') {
      // CSI: parameters and intermediates, then a final byte 0x40–0x7e.
      for (let j = i + 2; j < s.length; j++) {
        const c = s.charCodeAt(j);
        if (c >= 0x40 && c <= 0x7e) return j + 1;
        if (c < 0x20 || c > 0x3f) {
          if (!(c >= 0x20 && c <= 0x2f)) return j; // malformed: drop what we have
        }
      }
      return -1;
    }
    if (t === ']' || t === 'P' || t === '_' || t === '^' || t === 'X') {
      // OSC/DCS/APC…: up to BEL or ST (ESC \).
      for (let j = i + 2; j < s.length; j++) {
        if (s[j] === '\x07') return j + 1;
        if (s[j] === '\x1b') {
          if (j + 1 >= s.length) return -1;
          return s[j + 1] === '\\' ? j + 2 : j;
        }
      }
      return -1;
    }
    if (t === '(' || t === ')' || t === '*' || t === '+' || t === '#' || t === '%') {
      return i + 2 < s.length ? i + 3 : -1;
    }
    return i + 2; // two-byte escapes: ESC =, ESC >, ESC 7, ESC M…
  }

  emit(text) {
    if (this.crPending) {
      this.crPending = false;
      for (const n of this.lineNodes) n.remove();
      this.lineNodes = [];
      this.lastNode = null;
    }
    const st = this.style;
    // Extend the previous node when the style did not change.
    if (this.lastNode && this.lastStyle && sameStyle(st, this.lastStyle) && this.lastNode.parentNode === this.pre) {
      const target = this.lastNode.nodeType === Node.TEXT_NODE ? this.lastNode : this.lastNode.firstChild;
      target.appendData(text);
      return;
    }
    let node;
    if (isPlain(st)) {
      node = document.createTextNode(text);
    } else {
      node = document.createElement('span');
      node.textContent = text;
      let fg = st.fg;
      let bg = st.bg;
      if (st.inverse) {
        [fg, bg] = [bg === null ? 'inv-fg' : bg, fg === null ? 'inv-bg' : fg];
      }
      if (fg === 'inv-fg') node.classList.add('ansi-inv-fg');
      else if (typeof fg === 'number') node.classList.add(`ansi-fg-${fg}`);
      else if (typeof fg === 'string') node.style.color = fg;
      if (bg === 'inv-bg') node.classList.add('ansi-inv-bg');
      else if (typeof bg === 'number') node.classList.add(`ansi-bg-${bg}`);
      else if (typeof bg === 'string') node.style.backgroundColor = bg;
      if (st.bold) node.classList.add('ansi-bold');
      if (st.dim) node.classList.add('ansi-dim');
      if (st.italic) node.classList.add('ansi-italic');
      if (st.underline) node.classList.add('ansi-underline');
    }
    this.pre.appendChild(node);
    this.lineNodes.push(node);
    this.lastNode = node;
    this.lastStyle = { ...st };
  }

  newline() {
    this.lineNodes = [];
    this.crPending = false;
    this.lines += 1;
    // A line break ends the run: the next line starts a fresh node, so a
    // CR on it only rewrites that line.
    this.lastNode = null;
  }

  trim() {
    if (this.lines <= this.maxLines) return;
    let drop = this.lines - this.maxLines;
    while (drop > 0 && this.pre.firstChild) {
      const n = this.pre.firstChild;
      const t = n.textContent;
      const nl = t.indexOf('\n');
      if (nl < 0) {
        n.remove();
        continue;
      }
      const after = t.slice(nl + 1);
      if (after) {
        if (n.nodeType === Node.TEXT_NODE) n.data = after;
        else n.textContent = after;
      } else n.remove();
      drop -= 1;
      this.lines -= 1;
    }
  }
}

/** Plain text with every escape sequence removed (for previews). */
export function stripAnsi(s) {
  return String(s)
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, '')
    .replace(/\x1b[()*+#%]./g, '')
    .replace(/\x1b./g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}
