/*!
 * Frontdesk chat widget: embeddable, dependency-free, no build step.
 *
 *   <script src="https://HOST/widget.js" data-practice="SLUG" async></script>
 *
 * Optional attributes: data-title="Chat with us", data-open="true".
 *
 * All UI lives in an open Shadow DOM so host-page CSS cannot leak in or be broken.
 * Message text is untrusted and is only ever rendered through text nodes
 * (textContent / Node.append(string)), never innerHTML.
 */
(() => {
  'use strict';

  if (window.FrontdeskWidget) return; // loaded twice on the same page

  // --- locate our own <script> (must happen synchronously, while currentScript is set)
  const script =
    document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-practice]');
  if (!script) {
    console.warn('[frontdesk] widget: cannot find its <script> element');
    return;
  }
  const slug = (script.getAttribute('data-practice') || '').trim();
  if (!slug) {
    console.warn('[frontdesk] widget: the data-practice attribute is required');
    return;
  }
  let scriptUrl;
  try {
    scriptUrl = new URL(script.src, window.location.href);
  } catch {
    console.warn('[frontdesk] widget: cannot parse the script src');
    return;
  }
  const WS_BASE = `${scriptUrl.protocol === 'https:' ? 'wss:' : 'ws:'}//${scriptUrl.host}/chat/ws`;
  const TITLE = (script.getAttribute('data-title') || '').trim() || 'Chat with us';
  const START_OPEN = (script.getAttribute('data-open') || '').trim().toLowerCase() === 'true';
  const STORAGE_KEY = `frontdesk:${slug}:resume`;

  const MAX_LEN = 1000;
  const COUNTER_FROM = 900;
  const LOCAL_TYPING_MS = 15000;
  const BACKOFF_BASE_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const SESSION_TIMEOUT_MS = 10000; // socket open but no "session" frame: drop and retry
  const PENDING_NOTE_MS = 2500; // unacknowledged this long: show "Waiting to send…"
  const SUBTITLE_BOT = 'Virtual assistant';

  // --- small helpers --------------------------------------------------------------------

  function storageGet(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch {
      return null;
    }
  }
  function storageSet(key, value) {
    try {
      window.sessionStorage.setItem(key, value);
    } catch {
      /* storage disabled (sandboxed iframe, privacy mode): resume just won't survive reloads */
    }
  }
  function storageRemove(key) {
    try {
      window.sessionStorage.removeItem(key);
    } catch {
      /* ignore */
    }
  }

  function uuid() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === 'function') {
      try {
        return c.randomUUID(); // only in secure contexts
      } catch {
        /* fall through */
      }
    }
    const b = new Uint8Array(16);
    if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** Create an element. `text` is set via textContent; other attrs via setAttribute. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === 'text') node.textContent = String(v);
        else if (k === 'class') node.className = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) if (c != null) node.append(c); // strings become text nodes
    return node;
  }

  /** Length in Unicode code points (what a Python server's len() counts). */
  function cpLen(s) {
    let n = 0;
    for (const _ of s) n++; // eslint-disable-line no-unused-vars
    return n;
  }

  function todayISO() {
    const d = new Date();
    const p = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  }

  function asText(v) {
    if (v == null) return '';
    return typeof v === 'string' ? v : String(v);
  }

  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  /** Append text to node, turning bare http(s) URLs into links. Text nodes only. */
  function appendLinkified(node, text) {
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      const url = m[0].replace(/[.,;:!?)\]}]+$/, '');
      if (!url) continue;
      const start = m.index;
      if (start > last) node.append(text.slice(last, start));
      node.append(el('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow', text: url }));
      last = start + url.length;
    }
    if (last < text.length) node.append(text.slice(last));
  }

  function svg(pathD, size = 24) {
    const ns = 'http://www.w3.org/2000/svg';
    const s = document.createElementNS(ns, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('width', String(size));
    s.setAttribute('height', String(size));
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', pathD);
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', 'currentColor');
    p.setAttribute('stroke-width', '2');
    p.setAttribute('stroke-linecap', 'round');
    p.setAttribute('stroke-linejoin', 'round');
    s.append(p);
    return s;
  }
  const ICON_CHAT = 'M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z';
  const ICON_CLOSE = 'M6 6l12 12M18 6L6 18';
  const ICON_DOWN = 'M6 9l6 6 6-6';
  const ICON_LOCK = 'M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3';

  // --- styles -----------------------------------------------------------------------------

  const CSS = `
:host { all: initial; }
[hidden] { display: none !important; }
*, *::before, *::after { box-sizing: border-box; }

.root {
  --fd-accent: #1a5d7a;
  --fd-accent-hover: #134a62;
  --fd-accent-soft: #e7f0f4;
  --fd-text: #1f2933;
  --fd-muted: #52606d;
  --fd-bg: #ffffff;
  --fd-canvas: #f7f9fa;
  --fd-bot: #e9eef2;
  --fd-staff: #fdf3e1;
  --fd-staff-border: #e6cf9f;
  --fd-staff-name: #7a4a00;
  --fd-border: #d5dde3;
  --fd-field: #6b7785;
  --fd-error: #a61b1b;
  --fd-error-bg: #fdeeee;
  --fd-warn: #5f4500;
  --fd-warn-bg: #fff6dc;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif, "Apple Color Emoji", "Segoe UI Emoji";
  font-size: 15px;
  line-height: 1.45;
  font-weight: 400;
  color: var(--fd-text);
  text-align: left;
  -webkit-font-smoothing: antialiased;
  -webkit-text-size-adjust: 100%;
}
button, input, textarea { font: inherit; color: inherit; letter-spacing: normal; text-transform: none; }
button { cursor: pointer; }
button:disabled { cursor: default; }
:focus-visible { outline: 3px solid var(--fd-accent); outline-offset: 2px; }
.sr-only {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0;
}

/* launcher */
.launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2;
  width: 56px; height: 56px; padding: 0; margin: 0; border: 0; border-radius: 50%;
  display: grid; place-items: center;
  background: var(--fd-accent); color: #fff;
  box-shadow: 0 4px 14px rgba(16, 42, 67, 0.28);
  transition: background-color 0.15s ease, transform 0.15s ease;
}
.launcher:hover { background: var(--fd-accent-hover); }
.launcher:active { transform: scale(0.96); }
.launcher:focus-visible { outline: none; box-shadow: 0 0 0 3px #fff, 0 0 0 6px var(--fd-accent); }
.launcher .icon-close { display: none; }
.root.open .launcher .icon-open { display: none; }
.root.open .launcher .icon-close { display: block; }
.badge {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; border: 2px solid #fff; background: #b42318; color: #fff;
  font-size: 12px; font-weight: 700; line-height: 18px; text-align: center;
}

/* panel */
.panel {
  position: fixed; right: 20px; bottom: 88px; z-index: 1;
  width: 380px; max-width: calc(100vw - 40px);
  height: 600px; max-height: calc(100vh - 108px);
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--fd-bg); border: 1px solid rgba(16, 42, 67, 0.1); border-radius: 14px;
  box-shadow: 0 12px 40px rgba(16, 42, 67, 0.22), 0 2px 6px rgba(16, 42, 67, 0.12);
}
.header {
  display: flex; align-items: center; gap: 12px; flex: none;
  padding: 12px 10px 12px 18px; background: var(--fd-accent); color: #fff;
}
.titles { flex: 1; min-width: 0; }
.title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.3; color: inherit; }
.subtitle { margin: 2px 0 0; font-size: 13px; line-height: 1.3; color: #e6f1f5; }
.title, .subtitle { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.close {
  flex: none; width: 40px; height: 40px; padding: 0; margin: 0; border: 0; border-radius: 8px;
  display: grid; place-items: center; background: transparent; color: #fff;
}
.close:hover { background: rgba(255, 255, 255, 0.16); }
.header :focus-visible { outline: 2px solid #fff; outline-offset: 1px; }
.status {
  flex: none; padding: 6px 16px; font-size: 13px;
  background: var(--fd-warn-bg); color: var(--fd-warn); border-bottom: 1px solid #f0dfa8;
}

/* conversation */
.scroll {
  flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain;
  padding: 16px 14px 10px; background: var(--fd-canvas);
}
.log { display: flex; flex-direction: column; gap: 10px; }
.row { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; }
.row.from-patient { align-items: flex-end; }
.sender { margin: 0 0 3px 4px; font-size: 12px; font-weight: 600; color: var(--fd-staff-name); }
.msg {
  max-width: 85%; padding: 9px 13px; border-radius: 16px;
  white-space: pre-wrap; overflow-wrap: anywhere;
}
.msg[data-role="bot"] { background: var(--fd-bot); color: var(--fd-text); border-bottom-left-radius: 4px; }
.msg[data-role="staff"] {
  background: var(--fd-staff); color: var(--fd-text);
  border: 1px solid var(--fd-staff-border); border-bottom-left-radius: 4px;
}
.msg[data-role="patient"] { background: var(--fd-accent); color: #fff; border-bottom-right-radius: 4px; }
.msg a { color: inherit; text-decoration: underline; text-underline-offset: 2px; }
.note { margin: 3px 4px 0; font-size: 12px; color: var(--fd-muted); }
.note.failed { color: var(--fd-error); font-weight: 600; }
.choices { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; max-width: 100%; }
.choice {
  margin: 0; padding: 7px 14px; min-height: 36px; border-radius: 999px;
  border: 1.5px solid var(--fd-accent); background: #fff; color: var(--fd-accent);
  font-size: 14px; font-weight: 500; line-height: 1.3; text-align: center;
}
.choice:hover:not(:disabled) { background: var(--fd-accent-soft); }
.choice:disabled { border-color: var(--fd-border); color: var(--fd-muted); background: #fff; }
.choice.chosen, .choice.chosen:disabled { border-color: var(--fd-accent); background: var(--fd-accent); color: #fff; }
.system { align-self: center; max-width: 90%; font-size: 12px; color: var(--fd-muted); text-align: center; }
.secure-done { display: inline-flex; align-items: center; gap: 6px; }
.alert {
  align-self: stretch; padding: 7px 10px; border-radius: 8px; font-size: 13px;
  background: var(--fd-error-bg); color: var(--fd-error); border: 1px solid #f3c4c4;
  white-space: pre-wrap; overflow-wrap: anywhere;
}
.typing {
  display: inline-flex; align-items: center; gap: 4px; margin-top: 10px;
  padding: 12px 14px; border-radius: 16px; border-bottom-left-radius: 4px; background: var(--fd-bot);
}
.dot { width: 7px; height: 7px; border-radius: 50%; background: #5f6c78; animation: fd-bounce 1.2s infinite ease-in-out; }
.dot:nth-child(2) { animation-delay: 0.15s; }
.dot:nth-child(3) { animation-delay: 0.3s; }
@keyframes fd-bounce {
  0%, 60%, 100% { transform: translateY(0); opacity: 0.45; }
  30% { transform: translateY(-4px); opacity: 1; }
}

/* identity form */
.identity {
  align-self: stretch; margin: 0; padding: 12px 14px;
  background: #fff; border: 1px solid var(--fd-border); border-radius: 12px;
}
.identity-head { display: flex; align-items: center; gap: 6px; margin: 0 0 4px; font-size: 14px; font-weight: 650; }
.identity-reason { margin: 0 0 10px; font-size: 13px; color: var(--fd-muted); white-space: pre-wrap; }
.field { display: flex; flex-direction: column; gap: 4px; margin: 0 0 10px; }
.field label { font-size: 13px; font-weight: 600; }
.field input {
  width: 100%; min-height: 40px; margin: 0; padding: 8px 10px;
  font-size: 16px; border: 1px solid var(--fd-field); border-radius: 8px; background: #fff; color: var(--fd-text);
}
.field input[aria-invalid="true"] { border-color: var(--fd-error); }
.field-error { font-size: 12px; color: var(--fd-error); }
.identity-hint { margin: 0 0 10px; font-size: 12px; color: var(--fd-muted); }
.primary {
  margin: 0; padding: 9px 16px; min-height: 40px; border: 0; border-radius: 8px;
  background: var(--fd-accent); color: #fff; font-size: 14px; font-weight: 600;
}
.primary:hover { background: var(--fd-accent-hover); }
.link { display: block; margin: 8px 0 0; padding: 0; border: 0; background: none; color: var(--fd-accent); font-size: 13px; text-decoration: underline; }

/* composer */
.composer { flex: none; margin: 0; padding: 10px 12px 12px; background: #fff; border-top: 1px solid var(--fd-border); }
.composer-row { display: flex; align-items: flex-end; gap: 8px; }
.input {
  flex: 1; min-width: 0; min-height: 44px; max-height: 132px; margin: 0; padding: 10px 12px;
  font-size: 16px; line-height: 1.4; resize: none; overflow-y: auto;
  border: 1px solid var(--fd-field); border-radius: 10px; background: #fff; color: var(--fd-text);
}
.input::placeholder { color: #6b7785; opacity: 1; }
.input:focus, .field input:focus { outline: 2px solid var(--fd-accent); outline-offset: 0; border-color: var(--fd-accent); }
.send { flex: none; min-height: 44px; }
.counter { margin-top: 4px; font-size: 12px; text-align: right; color: var(--fd-muted); }
.counter.over { color: var(--fd-error); font-weight: 600; }
.composer-error { margin-top: 4px; font-size: 12px; color: var(--fd-error); }
.composer-error:empty { display: none; }

@media (max-width: 480px) {
  .panel {
    inset: 0; width: auto; max-width: none; height: auto; max-height: none;
    border: 0; border-radius: 0; box-shadow: none;
  }
  .root.open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) {
  .dot { animation: none; opacity: 0.8; }
  .launcher { transition: none; }
}
@media (forced-colors: active) {
  .launcher, .primary, .msg, .typing, .alert { border: 1px solid CanvasText; }
}
`;

  // --- state ------------------------------------------------------------------------------

  const state = {
    booted: false,
    seenIds: new Set(), // ids of server messages already shown
    open: false,
    ws: null,
    ready: false, // "session" frame received on the current socket
    everReady: false,
    attempt: 0,
    reconnectTimer: 0,
    sessionTimer: 0,
    suspended: false, // page hidden into bfcache
    resumeToken: storageGet(STORAGE_KEY),
    conversationId: null,
    queue: [], // unacknowledged outgoing frames, in order: {id, frame, kind, row, group, wire, noteTimer}
    fatal: false, // the server said this practice has no chat: stop reconnecting
    unread: 0,
    typingServer: false,
    typingTimer: 0,
    identityForm: null,
    identitySeq: 0,
  };

  /** DOM references, filled in by build(). */
  const ui = {};

  // --- DOM construction -------------------------------------------------------------------

  function build() {
    const host = document.createElement('frontdesk-widget');
    // Inline !important beats any host-page rule, including `* { … !important }`.
    host.setAttribute(
      'style',
      'all: initial !important; position: fixed !important; z-index: 2147483000 !important; ' +
        'display: block !important; visibility: visible !important; opacity: 1 !important; ' +
        'right: 0 !important; bottom: 0 !important; width: 0 !important; height: 0 !important;'
    );
    const shadow = host.attachShadow({ mode: 'open' });
    ui.host = host;
    ui.shadow = shadow;

    const style = document.createElement('style');
    style.textContent = CSS;

    const root = el('div', { class: 'root' });

    const badge = el('span', { class: 'badge', 'aria-hidden': 'true', hidden: true });
    const iconOpen = svg(ICON_CHAT, 26);
    iconOpen.classList.add('icon-open');
    const iconClose = svg(ICON_DOWN, 28);
    iconClose.classList.add('icon-close');
    const launcher = el(
      'button',
      {
        class: 'launcher',
        type: 'button',
        'aria-label': 'Open chat',
        'aria-expanded': 'false',
        'aria-controls': 'fd-panel',
        'data-testid': 'fd-launcher',
      },
      iconOpen,
      iconClose,
      badge
    );

    const title = el('h2', { class: 'title', id: 'fd-title', text: TITLE });
    const subtitle = el('p', { class: 'subtitle', 'data-testid': 'fd-subtitle', text: SUBTITLE_BOT });
    const closeBtn = el(
      'button',
      { class: 'close', type: 'button', 'aria-label': 'Close chat', 'data-testid': 'fd-close' },
      svg(ICON_CLOSE, 22)
    );
    const header = el('div', { class: 'header' }, el('div', { class: 'titles' }, title, subtitle), closeBtn);

    const status = el('div', { class: 'status', role: 'status', 'data-testid': 'fd-status', hidden: true });

    const log = el('div', {
      class: 'log',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': 'Conversation',
      'data-testid': 'fd-log',
    });
    const typing = el(
      'div',
      { class: 'typing', role: 'status', 'aria-label': 'Assistant is typing', 'data-testid': 'fd-typing', hidden: true },
      el('span', { class: 'sr-only', text: 'Assistant is typing' }),
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'dot', 'aria-hidden': 'true' })
    );
    const scroll = el('div', { class: 'scroll' }, log, typing);

    const input = el('textarea', {
      class: 'input',
      id: 'fd-input',
      rows: '1',
      placeholder: 'Type your message…',
      autocomplete: 'off',
      enterkeyhint: 'send',
      'aria-describedby': 'fd-counter fd-composer-error',
      'data-testid': 'fd-input',
    });
    const sendBtn = el('button', { class: 'primary send', type: 'submit', 'data-testid': 'fd-send', text: 'Send' });
    const counter = el('div', { class: 'counter', id: 'fd-counter', 'data-testid': 'fd-counter', hidden: true });
    const composerError = el('div', {
      class: 'composer-error',
      id: 'fd-composer-error',
      role: 'alert',
      'data-testid': 'fd-composer-error',
    });
    const form = el(
      'form',
      { class: 'composer', novalidate: true, 'aria-label': 'Send a message' },
      el('label', { class: 'sr-only', for: 'fd-input', text: 'Message' }),
      el('div', { class: 'composer-row' }, input, sendBtn),
      counter,
      composerError
    );

    const panel = el(
      'div',
      {
        class: 'panel',
        id: 'fd-panel',
        role: 'dialog',
        'aria-label': TITLE,
        'data-testid': 'fd-panel',
        hidden: true,
      },
      header,
      status,
      scroll,
      form
    );

    root.append(panel, launcher);
    shadow.append(style, root);
    document.body.append(host);

    Object.assign(ui, { root, launcher, badge, panel, title, subtitle, closeBtn, status, scroll, log, typing, input, sendBtn, counter, composerError, form });

    // --- events
    launcher.addEventListener('click', () => (state.open ? close({ returnFocus: true }) : open()));
    closeBtn.addEventListener('click', () => close({ returnFocus: true }));
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.open) {
        e.preventDefault();
        e.stopPropagation();
        close({ returnFocus: true });
      }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      sendText(input.value, { fromInput: true });
    });
    input.addEventListener('keydown', (e) => {
      // Enter sends; Shift+Enter inserts a newline; never interrupt IME composition.
      if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        sendText(input.value, { fromInput: true });
      }
    });
    input.addEventListener('input', () => {
      ui.composerError.textContent = '';
      updateComposer();
    });
  }

  // --- composer ---------------------------------------------------------------------------

  function updateComposer() {
    const { input, counter } = ui;
    const n = cpLen(input.value.trim());
    if (n > COUNTER_FROM) {
      counter.hidden = false;
      counter.textContent = `${n} / ${MAX_LEN}`;
      counter.classList.toggle('over', n > MAX_LEN);
    } else {
      counter.hidden = true;
      counter.textContent = '';
      counter.classList.remove('over');
    }
    // auto-grow (CSS caps the height)
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight + 2, 132)}px`;
  }

  function restoreToInput(text) {
    const cur = ui.input.value;
    ui.input.value = cur.trim() ? `${text}\n${cur}` : text;
    updateComposer();
    if (state.open) ui.input.focus({ preventScroll: true });
  }

  // --- rendering --------------------------------------------------------------------------

  function nearBottom() {
    const s = ui.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }
  function scrollToBottom() {
    ui.scroll.scrollTop = ui.scroll.scrollHeight;
  }
  /** Append to the log, keeping the view pinned to the bottom when it was there. */
  function appendToLog(node, force = false) {
    const stick = force || nearBottom();
    ui.log.append(node);
    if (stick) scrollToBottom();
  }

  function formatTime(at) {
    if (typeof at !== 'string' || !at) return null;
    const d = new Date(at);
    if (Number.isNaN(d.getTime())) return null;
    try {
      return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    } catch {
      return d.toLocaleString();
    }
  }

  function validButtons(buttons) {
    if (!Array.isArray(buttons)) return [];
    return buttons.filter((b) => b && typeof b === 'object' && typeof b.title === 'string' && b.title.trim());
  }

  /**
   * Build one message row. role: patient|bot|staff.
   * Returns the row element (not yet attached).
   */
  function buildMessage(role, text, { buttons = null, senderName = null, at = null, interactive = false } = {}) {
    const row = el('div', { class: `row from-${role}` });
    const name = asText(senderName).trim();
    if (role === 'staff') {
      row.append(el('div', { class: 'sender', 'data-testid': 'fd-sender', text: name || 'Staff' }));
    } else {
      row.append(el('span', { class: 'sr-only', text: role === 'patient' ? 'You said:' : 'Assistant:' }));
    }
    const body = asText(text);
    if (body) {
      const bubble = el('div', { class: 'msg', 'data-role': role, 'data-testid': 'fd-msg' });
      const when = formatTime(at);
      if (when) bubble.title = when;
      if (role === 'patient') bubble.textContent = body;
      else appendLinkified(bubble, body);
      row.append(bubble);
    }
    const items = role === 'patient' ? [] : validButtons(buttons);
    if (items.length) {
      const group = el('div', { class: 'choices', role: 'group', 'aria-label': 'Reply options' });
      for (const item of items) {
        const btn = el('button', {
          class: 'choice',
          type: 'button',
          'data-testid': 'fd-choice',
          disabled: !interactive,
          text: item.title,
        });
        btn.addEventListener('click', () => choose(group, btn, item));
        group.append(btn);
      }
      row.append(group);
    }
    if (!body && !items.length) return null;
    return row;
  }

  function addSystemLine(text) {
    appendToLog(el('div', { class: 'system', 'data-testid': 'fd-system', text }));
  }

  function addAlert(message, code) {
    appendToLog(
      el('div', {
        class: 'alert',
        role: 'alert',
        'data-testid': 'fd-error',
        'data-code': code || null,
        text: message || 'Something went wrong. Please try again.',
      }),
      true
    );
  }

  function disableAllChoices() {
    for (const b of ui.log.querySelectorAll('.choice:not(:disabled)')) b.disabled = true;
  }

  function setSubtitle(text) {
    ui.subtitle.textContent = text;
  }
  function staffSubtitle(name) {
    const n = asText(name).trim();
    return n ? `You're chatting with ${n}` : "You're chatting with our team";
  }

  function setStatus(text) {
    ui.status.hidden = !text;
    ui.status.textContent = text || '';
  }

  function updateBadge() {
    ui.badge.hidden = state.unread === 0;
    ui.badge.textContent = state.unread > 9 ? '9+' : String(state.unread);
  }
  function bumpUnread() {
    if (state.open) return;
    state.unread++;
    updateBadge();
  }

  // --- typing indicator -------------------------------------------------------------------

  function showTyping({ local }) {
    const stick = nearBottom();
    ui.typing.hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = 0;
    if (local) {
      state.typingTimer = setTimeout(() => {
        state.typingTimer = 0;
        if (!state.typingServer) ui.typing.hidden = true;
      }, LOCAL_TYPING_MS);
    } else {
      state.typingServer = true;
    }
    if (stick) scrollToBottom();
  }
  function hideTyping() {
    clearTimeout(state.typingTimer);
    state.typingTimer = 0;
    state.typingServer = false;
    ui.typing.hidden = true;
  }

  // --- outgoing queue ---------------------------------------------------------------------

  function setNote(entry, text, failed = false) {
    if (!entry.row) return;
    let note = entry.row.querySelector('.note');
    if (!text) {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = el('div', { class: 'note', 'data-testid': 'fd-note' });
      entry.row.append(note);
    }
    note.textContent = text;
    note.classList.toggle('failed', failed);
  }

  function setRowStatus(entry, status) {
    if (entry.row && entry.kind !== 'identity') entry.row.setAttribute('data-status', status);
  }

  function enqueue(frame, extras) {
    const entry = { id: frame.client_id, frame, kind: 'message', row: null, group: null, wire: null, noteTimer: 0, ...extras };
    state.queue.push(entry);
    setRowStatus(entry, 'pending');
    if (entry.kind !== 'identity') {
      entry.noteTimer = setTimeout(() => {
        if (state.queue.includes(entry)) setNote(entry, 'Waiting to send…');
      }, PENDING_NOTE_MS);
    }
    if (!transmit(entry)) kickConnection();
    return entry;
  }

  function transmit(entry) {
    const ws = state.ws;
    if (!ws || !state.ready || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(entry.frame));
    } catch (err) {
      console.warn('[frontdesk] send failed', err);
      return false;
    }
    entry.wire = ws; // the socket it is now in flight on
    return true;
  }

  function flushQueue() {
    for (const entry of state.queue) if (!transmit(entry)) break;
  }

  function removeEntry(entry) {
    const i = state.queue.indexOf(entry);
    if (i !== -1) state.queue.splice(i, 1);
    clearTimeout(entry.noteTimer);
    entry.noteTimer = 0;
  }

  /** Oldest frame in flight on the current socket: the server answers frames in order. */
  function oldestInFlight(kind) {
    return state.queue.find((e) => e.frame && e.wire && e.wire === state.ws && (!kind || e.kind === kind)) || null;
  }

  /** An identity attempt the server rejected (or superseded) must never be resent. */
  function dropPendingIdentity() {
    for (const entry of state.queue.filter((e) => e.kind === 'identity')) {
      removeEntry(entry);
      entry.frame = null;
    }
  }

  function acknowledge(clientId) {
    const entry = state.queue.find((e) => e.id === clientId);
    if (!entry) return;
    removeEntry(entry);
    setNote(entry, null);
    setRowStatus(entry, 'sent');
    entry.frame = null; // drop the payload (identity details) as soon as the server has it
  }

  // --- user actions -----------------------------------------------------------------------

  /** Validate and send free text. Returns true when the message was accepted for sending. */
  function sendText(raw, { fromInput = false } = {}) {
    if (!state.booted) return false;
    const text = asText(raw).replace(/\r\n?/g, '\n').trim();
    if (!text) return false;
    if (state.fatal) {
      ui.composerError.textContent = "Sorry, chat isn't available right now. Please call the practice.";
      return false;
    }
    const n = cpLen(text);
    if (n > MAX_LEN) {
      ui.composerError.textContent = `Your message is too long (${n} characters). Please keep it under ${MAX_LEN}.`;
      return false;
    }
    ui.composerError.textContent = '';
    disableAllChoices();
    const frame = { type: 'message', text, client_id: uuid() };
    const row = buildMessage('patient', text);
    appendToLog(row, true);
    if (fromInput) {
      ui.input.value = '';
      updateComposer();
    }
    enqueue(frame, { kind: 'message', row });
    showTyping({ local: true });
    return true;
  }

  function choose(group, btn, item) {
    if (btn.disabled) return;
    disableAllChoices();
    btn.classList.add('chosen');
    const frame = { type: 'message', text: item.title, client_id: uuid() };
    if (item.payload !== undefined) frame.payload = item.payload;
    const row = buildMessage('patient', item.title);
    appendToLog(row, true);
    enqueue(frame, { kind: 'choice', row, group });
    showTyping({ local: true });
    // the clicked button is now disabled, so keep keyboard users somewhere useful
    if (state.open) ui.input.focus({ preventScroll: true });
  }

  // --- identity form ----------------------------------------------------------------------

  function validateDob(value, badInput) {
    if (badInput) return 'Please enter a complete date of birth.';
    if (!value) return 'Please enter your date of birth.';
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!m) return 'Please enter the date as YYYY-MM-DD.';
    const y = Number(m[1]);
    const mo = Number(m[2]);
    const d = Number(m[3]);
    const dt = new Date(Date.UTC(y, mo - 1, d));
    if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) {
      return 'Please enter a valid date.';
    }
    if (value > todayISO()) return "Date of birth can't be in the future.";
    if (y < 1900) return 'Please check the year.';
    return '';
  }

  function setFieldError(inputEl, errEl, message) {
    errEl.textContent = message;
    errEl.hidden = !message;
    if (message) inputEl.setAttribute('aria-invalid', 'true');
    else inputEl.removeAttribute('aria-invalid');
  }

  function showIdentityForm(reason) {
    if (state.identityForm) state.identityForm.remove();
    const n = ++state.identitySeq;
    const ids = { head: `fd-id-head-${n}`, name: `fd-id-name-${n}`, dob: `fd-id-dob-${n}`, nameErr: `fd-id-name-err-${n}`, dobErr: `fd-id-dob-err-${n}` };

    const nameInput = el('input', {
      id: ids.name,
      type: 'text',
      name: 'full_name',
      autocomplete: 'name',
      autocapitalize: 'words',
      spellcheck: 'false',
      maxlength: '200',
      required: true,
      'aria-describedby': ids.nameErr,
    });
    const nameErr = el('div', { class: 'field-error', id: ids.nameErr, hidden: true });
    const dobInput = el('input', {
      id: ids.dob,
      type: 'date',
      name: 'date_of_birth',
      autocomplete: 'bday',
      required: true,
      min: '1900-01-01',
      max: todayISO(),
      placeholder: 'YYYY-MM-DD', // shown only where type=date is unsupported
      'aria-describedby': ids.dobErr,
    });
    const dobErr = el('div', { class: 'field-error', id: ids.dobErr, hidden: true });

    const form = el(
      'form',
      { class: 'identity', novalidate: true, 'aria-labelledby': ids.head, 'data-testid': 'fd-identity' },
      el('div', { class: 'identity-head', id: ids.head }, svg(ICON_LOCK, 16), 'Verify your identity'),
      el('p', { class: 'identity-reason', text: asText(reason).trim() || 'To continue, please confirm who you are.' }),
      el('div', { class: 'field' }, el('label', { for: ids.name, text: 'Full name' }), nameInput, nameErr),
      el('div', { class: 'field' }, el('label', { for: ids.dob, text: 'Date of birth' }), dobInput, dobErr),
      el('p', { class: 'identity-hint', text: 'Sent securely to the practice. It is not shown in the chat.' }),
      el('button', { class: 'primary', type: 'submit', 'data-testid': 'fd-identity-submit', text: 'Verify' })
    );

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const fullName = nameInput.value.replace(/\s+/g, ' ').trim();
      const dob = dobInput.value.trim();
      const nameMsg = fullName ? '' : 'Please enter your full name.';
      const dobMsg = validateDob(dob, dobInput.validity && dobInput.validity.badInput);
      setFieldError(nameInput, nameErr, nameMsg);
      setFieldError(dobInput, dobErr, dobMsg);
      if (nameMsg || dobMsg) {
        (nameMsg ? nameInput : dobInput).focus();
        return;
      }
      const frame = { type: 'identity', full_name: fullName, date_of_birth: dob, client_id: uuid() };
      nameInput.value = '';
      dobInput.value = '';
      const done = el(
        'div',
        { class: 'system secure-done', 'data-testid': 'fd-identity-sent' },
        svg(ICON_LOCK, 14),
        'Details sent securely.'
      );
      const hadFocus = ui.shadow.activeElement && form.contains(ui.shadow.activeElement);
      form.replaceWith(done);
      if (state.identityForm === form) state.identityForm = null;
      disableAllChoices();
      enqueue(frame, { kind: 'identity', row: done });
      showTyping({ local: true });
      if (hadFocus || state.open) ui.input.focus({ preventScroll: true });
    });

    state.identityForm = form;
    appendToLog(form, true);
    hideTyping();
    bumpUnread();
    // Move focus to the form only when the patient isn't in the middle of typing something.
    if (state.open && !ui.input.value.trim()) nameInput.focus({ preventScroll: true });
  }

  /**
   * The one-time code step, after name + date of birth when the bot needs verified identity
   * (to show or change appointments). The code goes to the service in an `otp` frame, never
   * into the chat; a wrong code brings this form back with the tries left.
   */
  function showCodeForm(f) {
    if (state.identityForm) state.identityForm.remove();
    const n = ++state.identitySeq;
    const ids = { head: `fd-otp-head-${n}`, code: `fd-otp-code-${n}`, err: `fd-otp-err-${n}` };
    const codeInput = el('input', {
      id: ids.code,
      type: 'text',
      name: 'one_time_code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]*',
      maxlength: '6',
      required: true,
      'aria-describedby': ids.err,
    });
    const codeErr = el('div', { class: 'field-error', id: ids.err, hidden: true });
    const left = typeof f.attempts_left === 'number' ? ` ${f.attempts_left} tries left.` : '';
    const form = el(
      'form',
      { class: 'identity', novalidate: true, 'aria-labelledby': ids.head, 'data-testid': 'fd-otp' },
      el('div', { class: 'identity-head', id: ids.head }, svg(ICON_LOCK, 16), 'Enter your code'),
      el('p', { class: 'identity-reason', text: (asText(f.reason).trim() || 'We texted you a 6-digit code.') + left }),
      el('div', { class: 'field' }, el('label', { for: ids.code, text: '6-digit code' }), codeInput, codeErr),
      el('p', { class: 'identity-hint', text: 'The code expires in 10 minutes. Never share it with anyone.' }),
      el('button', { class: 'primary', type: 'submit', 'data-testid': 'fd-otp-submit', text: 'Confirm' }),
      el('button', { class: 'link', type: 'button', 'data-testid': 'fd-otp-retype', text: 'Enter my details again' })
    );
    // No code arrives when the details match no record (the server does not say which):
    // let the patient correct a typo without waiting for the code to expire.
    form.querySelector('[data-testid="fd-otp-retype"]').addEventListener('click', () => {
      showIdentityForm('Please check your name and date of birth.');
    });

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const code = codeInput.value.replace(/\D/g, '');
      const msg = code.length === 6 ? '' : 'Please enter the 6 digits from the text message.';
      setFieldError(codeInput, codeErr, msg);
      if (msg) {
        codeInput.focus();
        return;
      }
      const frame = { type: 'otp', code, client_id: uuid() };
      codeInput.value = '';
      const done = el(
        'div',
        { class: 'system secure-done', 'data-testid': 'fd-otp-sent' },
        svg(ICON_LOCK, 14),
        'Code sent securely.'
      );
      const hadFocus = ui.shadow.activeElement && form.contains(ui.shadow.activeElement);
      form.replaceWith(done);
      if (state.identityForm === form) state.identityForm = null;
      enqueue(frame, { kind: 'identity', row: done });
      showTyping({ local: true });
      if (hadFocus || state.open) ui.input.focus({ preventScroll: true });
    });

    state.identityForm = form;
    appendToLog(form, true);
    hideTyping();
    bumpUnread();
    if (state.open && !ui.input.value.trim()) codeInput.focus({ preventScroll: true });
  }

  // --- incoming frames --------------------------------------------------------------------

  function handleRaw(data) {
    if (typeof data !== 'string') return;
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      console.warn('[frontdesk] ignoring malformed frame from server');
      return;
    }
    if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.type !== 'string') return;
    try {
      handleFrame(f);
    } catch (err) {
      console.warn('[frontdesk] error while handling frame', f.type, err);
    }
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'session':
        onSession(f);
        break;
      case 'history':
        renderHistory(Array.isArray(f.messages) ? f.messages : []);
        break;
      case 'message':
        onMessage(f);
        break;
      case 'typing':
        if (f.active === true) showTyping({ local: false });
        else hideTyping();
        break;
      case 'ack':
        if (typeof f.client_id === 'string') acknowledge(f.client_id);
        break;
      case 'identity_request':
        dropPendingIdentity(); // a new request supersedes any unacknowledged attempt
        showIdentityForm(f.reason);
        break;
      case 'otp_request':
        dropPendingIdentity();
        showCodeForm(f);
        break;
      case 'handoff':
        if (f.owner === 'bot') setSubtitle(SUBTITLE_BOT);
        else if (f.owner === 'staff') setSubtitle(staffSubtitle(f.staff_name));
        break;
      case 'error':
        onError(f);
        break;
      default:
        break; // unknown frame types are ignored
    }
  }

  function onSession(f) {
    clearTimeout(state.sessionTimer);
    state.sessionTimer = 0;
    if (typeof f.resume_token === 'string' && f.resume_token) {
      state.resumeToken = f.resume_token;
      storageSet(STORAGE_KEY, f.resume_token);
    }
    const cid = typeof f.conversation_id === 'string' ? f.conversation_id : null;
    if (cid && state.conversationId && cid !== state.conversationId && ui.log.childElementCount) {
      addSystemLine('A new conversation has started.');
    }
    if (cid) state.conversationId = cid;
    state.ready = true;
    state.everReady = true;
    state.attempt = 0;
    setStatus(null);
    flushQueue();
  }

  function onMessage(f) {
    if (f.role !== 'bot' && f.role !== 'staff') return;
    // A message stored while the history was being read can arrive both ways; show it once.
    if (typeof f.id === 'number') {
      if (state.seenIds.has(f.id)) return;
      state.seenIds.add(f.id);
    }
    hideTyping();
    const row = buildMessage(f.role, f.text, {
      buttons: f.buttons,
      senderName: f.sender_name,
      at: f.at,
      interactive: true,
    });
    if (f.role === 'staff') setSubtitle(staffSubtitle(f.sender_name));
    if (!row) return;
    appendToLog(row);
    bumpUnread();
  }

  function renderHistory(messages) {
    // An empty history never wipes what is already on screen (e.g. after a fresh restart).
    if (!messages.length) return;
    hideTyping();
    const historyIds = new Set();
    const rows = [];
    state.seenIds = new Set();
    messages.forEach((m, i) => {
      if (!m || typeof m !== 'object') return;
      if (m.role !== 'patient' && m.role !== 'bot' && m.role !== 'staff') return;
      if (typeof m.client_id === 'string') historyIds.add(m.client_id);
      if (typeof m.id === 'number') state.seenIds.add(m.id);
      const row = buildMessage(m.role, m.text, {
        buttons: m.buttons,
        senderName: m.sender_name,
        at: m.at,
        interactive: i === messages.length - 1 && m.role === 'bot',
      });
      if (row) rows.push(row);
    });
    ui.log.replaceChildren(...rows);
    // Frames the server hasn't acknowledged yet stay visible after the history.
    for (const entry of state.queue) {
      if (entry.row && !historyIds.has(entry.id)) ui.log.append(entry.row);
    }
    if (state.identityForm) ui.log.append(state.identityForm);
    // Header subtitle follows whoever spoke last (a later "handoff" frame overrides it).
    let sub = SUBTITLE_BOT;
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i];
      if (m && m.role === 'staff') {
        sub = staffSubtitle(m.sender_name);
        break;
      }
      if (m && m.role === 'bot') break;
    }
    setSubtitle(sub);
    scrollToBottom();
  }

  function onError(f) {
    const code = typeof f.code === 'string' ? f.code : '';
    if (code === 'resume_invalid') {
      state.resumeToken = null;
      storageRemove(STORAGE_KEY);
      const old = state.ws;
      dropSocket();
      if (old) {
        try {
          old.close(1000);
        } catch {
          /* ignore */
        }
      }
      state.attempt = 0;
      connect();
      return;
    }

    if (code === 'practice_unknown' || code === 'origin_not_allowed') {
      // Nothing to reconnect to; the server closes the socket right after this frame.
      state.fatal = true;
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = 0;
      setStatus(null);
    }
    // Identity and code attempts the server refused must never be resent.
    if (code.startsWith('identity_') || code.startsWith('otp_')) dropPendingIdentity();

    const restorable = code === 'message_too_long' || code === 'rate_limited';
    let entry = null;
    if (typeof f.client_id === 'string') entry = state.queue.find((e) => e.id === f.client_id) || null;
    // Error frames need not carry a client_id; frames are answered in order, so the
    // rejected one is the oldest still in flight on this socket.
    if (!entry && restorable) entry = oldestInFlight();
    if (entry) {
      // The server has rejected this frame: stop resending it and show it as not sent.
      removeEntry(entry);
      setRowStatus(entry, 'failed');
      setNote(entry, 'Not sent', true);
      if (restorable) {
        if (entry.kind === 'message') restoreToInput(entry.frame.text);
        else if (entry.kind === 'choice' && entry.group) {
          for (const b of entry.group.querySelectorAll('.choice')) {
            b.disabled = false;
            b.classList.remove('chosen');
          }
        }
      }
      entry.frame = null;
    }
    hideTyping();
    addAlert(asText(f.message).trim(), code);
  }

  // --- connection -------------------------------------------------------------------------

  function connect() {
    if (state.ws || state.suspended || state.fatal) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = 0;
    let url = `${WS_BASE}?practice=${encodeURIComponent(slug)}`;
    // The token goes in the first frame, never in the URL (proxies and access logs keep URLs).
    const resumeWith = state.resumeToken;
    if (resumeWith) url += '&resume=1';
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (err) {
      console.warn('[frontdesk] cannot open WebSocket', err);
      scheduleReconnect();
      return;
    }
    state.ws = sock;
    state.ready = false;
    sock.addEventListener('open', () => {
      if (state.ws !== sock) return;
      if (resumeWith) sock.send(JSON.stringify({ type: 'resume', token: resumeWith }));
      clearTimeout(state.sessionTimer);
      state.sessionTimer = setTimeout(() => {
        if (state.ws === sock && !state.ready) sock.close(); // onclose schedules the retry
      }, SESSION_TIMEOUT_MS);
    });
    sock.addEventListener('message', (ev) => {
      if (state.ws === sock) handleRaw(ev.data);
    });
    sock.addEventListener('close', (ev) => {
      if (state.ws !== sock) return;
      dropSocket();
      // 4404: unknown practice; 4403: this website may not embed the practice's chat.
      if (ev.code === 4404 || ev.code === 4403) state.fatal = true;
      if (state.fatal) setStatus(null);
      else scheduleReconnect();
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  function dropSocket() {
    state.ws = null;
    state.ready = false;
    clearTimeout(state.sessionTimer);
    state.sessionTimer = 0;
    if (state.typingServer) hideTyping();
  }

  function scheduleReconnect() {
    if (state.reconnectTimer || state.ws || state.suspended || state.fatal) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
    const delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.75 + Math.random() * 0.5)));
    state.attempt = Math.min(state.attempt + 1, 16);
    setStatus('Reconnecting…');
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = 0;
      connect();
    }, delay);
  }

  /** Connect if idle. Does not cut a pending backoff short. */
  function ensureConnected() {
    if (!state.ws && !state.reconnectTimer) connect();
  }

  /** The patient is actively trying to send: retry now instead of waiting out the backoff. */
  function kickConnection() {
    if (state.ws) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = 0;
    connect();
  }

  // --- open / close -----------------------------------------------------------------------

  function open({ focus = true } = {}) {
    if (!state.booted) return;
    if (!state.open) {
      state.open = true;
      ui.panel.hidden = false;
      ui.root.classList.add('open');
      ui.launcher.setAttribute('aria-expanded', 'true');
      ui.launcher.setAttribute('aria-label', 'Close chat');
      state.unread = 0;
      updateBadge();
      scrollToBottom();
    }
    ensureConnected();
    if (focus) ui.input.focus({ preventScroll: true });
  }

  function close({ returnFocus = false } = {}) {
    if (!state.booted || !state.open) return;
    const hadFocus = !!ui.shadow.activeElement;
    state.open = false;
    ui.panel.hidden = true;
    ui.root.classList.remove('open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.setAttribute('aria-label', 'Open chat');
    if (returnFocus || hadFocus) ui.launcher.focus({ preventScroll: true });
  }

  // --- boot -------------------------------------------------------------------------------

  const pending = [];
  function whenBooted(fn) {
    if (state.booted) return fn();
    pending.push(fn);
    return undefined;
  }

  function boot() {
    if (state.booted) return;
    build();
    state.booted = true;

    window.addEventListener('online', () => {
      if (!state.ws && state.reconnectTimer) kickConnection();
    });
    // Close cleanly when the page goes into the back/forward cache; resume when it comes back.
    window.addEventListener('pagehide', () => {
      state.suspended = true;
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = 0;
      const old = state.ws;
      if (old) {
        dropSocket();
        try {
          old.close(1000);
        } catch {
          /* ignore */
        }
      }
    });
    window.addEventListener('pageshow', () => {
      if (!state.suspended) return;
      state.suspended = false;
      if (state.everReady || state.queue.length || state.resumeToken) connect();
    });

    if (START_OPEN) open({ focus: false }); // don't steal focus from the host page on load
    else if (state.resumeToken) connect(); // resume an ongoing conversation in this tab

    for (const fn of pending.splice(0)) fn();
  }

  window.FrontdeskWidget = Object.freeze({
    open: () => whenBooted(() => open()),
    close: () => whenBooted(() => close()),
    send: (text) => {
      if (state.booted) return sendText(text);
      whenBooted(() => sendText(text));
      return true;
    },
  });

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
