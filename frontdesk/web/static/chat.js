/*!
 * Frontdesk chat frame: the web chat itself, in a page of our own origin (/chat/frame).
 *
 * widget.js on the practice's website draws the launcher and opens this page in a sandboxed
 * iframe; the host page's scripts cannot reach this document, its socket or its storage, so
 * the resume token (kept in this frame's own, partitioned sessionStorage) never leaves it.
 * The launcher and this frame talk only by postMessage, and only about opening, closing,
 * the unread count and the interface language; no message text or token ever crosses.
 * Which websites may frame this page is its CSP frame-ancestors (the practice's allowed
 * origins); opened on its own (not framed) it is a full-page chat.
 *
 * Message text is untrusted and is only ever rendered through text nodes
 * (textContent / Node.append(string)), never innerHTML.
 */
(() => {
  'use strict';

  const params = new URLSearchParams(window.location.search);
  const slug = (params.get('practice') || '').trim();
  if (!slug) {
    console.warn('[frontdesk] chat: the practice parameter is required');
    return;
  }
  const WS_BASE = `${window.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${window.location.host}/chat/ws`;
  // The launcher's data-title; short, since anyone can put text here by linking to the page.
  const CUSTOM_TITLE = (params.get('title') || '').trim().slice(0, 60);
  const EMBEDDED = window.parent !== window;
  const STORAGE_KEY = `frontdesk:${slug}:resume`;

  // --- interface strings: every key in both languages (tests/web/test_widget_strings.py).
  // Between the markers is plain JSON. Placeholders: {name}, {n}, {max}.
  const STRINGS = /* strings:begin */ {
    "en": {
      "title": "Chat with us",
      "subtitle_bot": "Virtual assistant",
      "staff_named": "You're chatting with {name}",
      "staff_team": "You're chatting with our team",
      "close": "Close chat",
      "conversation": "Conversation",
      "typing": "Assistant is typing",
      "placeholder": "Type your message…",
      "send": "Send",
      "message": "Message",
      "send_a_message": "Send a message",
      "you_said": "You said:",
      "assistant": "Assistant:",
      "staff": "Staff",
      "reply_options": "Reply options",
      "something_wrong": "Something went wrong. Please try again.",
      "waiting": "Waiting to send…",
      "not_sent": "Not sent",
      "unavailable": "Sorry, chat isn't available right now. Please call the practice.",
      "too_long": "Your message is too long ({n} characters). Please keep it under {max}.",
      "new_conversation": "A new conversation has started.",
      "connecting": "Connecting…",
      "reconnecting": "Reconnecting…",
      "verify_title": "Verify your identity",
      "verify_reason": "To continue, please confirm who you are.",
      "full_name": "Full name",
      "date_of_birth": "Date of birth",
      "sent_securely": "Sent securely to the practice. It is not shown in the chat.",
      "verify": "Verify",
      "details_sent": "Details sent securely.",
      "name_required": "Please enter your full name.",
      "dob_incomplete": "Please enter a complete date of birth.",
      "dob_required": "Please enter your date of birth.",
      "dob_format": "Please enter the date as YYYY-MM-DD.",
      "dob_invalid": "Please enter a valid date.",
      "dob_future": "Date of birth can't be in the future.",
      "dob_year": "Please check the year.",
      "code_title": "Enter your code",
      "code_reason": "We texted you a 6-digit code.",
      "tries_left": "{n} tries left.",
      "code_label": "6-digit code",
      "code_hint": "The code expires in 10 minutes. Never share it with anyone.",
      "confirm": "Confirm",
      "retype": "Enter my details again",
      "check_details": "Please check your name and date of birth.",
      "code_digits": "Please enter the 6 digits from the text message.",
      "code_sent": "Code sent securely.",
      "error.rate_limited": "You're sending messages very fast.",
      "error.message_too_long": "That message is too long.",
      "error.empty_message": "Please type a message.",
      "error.bad_frame": "That message could not be read.",
      "error.practice_unknown": "This chat is not set up for that practice.",
      "error.origin_not_allowed": "This chat is not enabled on this website. Please contact the practice.",
      "error.too_many_connections": "Too many chats are open from here.",
      "error.too_many_conversations": "Too many new chats were started from here. Please try again later.",
      "error.resumed_elsewhere": "This chat continued in another window."
    },
    "es": {
      "title": "Chatee con nosotros",
      "subtitle_bot": "Asistente virtual",
      "staff_named": "Está hablando con {name}",
      "staff_team": "Está hablando con nuestro equipo",
      "close": "Cerrar el chat",
      "conversation": "Conversación",
      "typing": "El asistente está escribiendo",
      "placeholder": "Escriba su mensaje…",
      "send": "Enviar",
      "message": "Mensaje",
      "send_a_message": "Enviar un mensaje",
      "you_said": "Usted dijo:",
      "assistant": "Asistente:",
      "staff": "Personal",
      "reply_options": "Opciones de respuesta",
      "something_wrong": "Algo salió mal. Inténtelo de nuevo.",
      "waiting": "Esperando para enviar…",
      "not_sent": "No enviado",
      "unavailable": "Lo sentimos, el chat no está disponible ahora. Llame al consultorio.",
      "too_long": "Su mensaje es demasiado largo ({n} caracteres). Escriba menos de {max}.",
      "new_conversation": "Empezó una conversación nueva.",
      "connecting": "Conectando…",
      "reconnecting": "Reconectando…",
      "verify_title": "Confirme su identidad",
      "verify_reason": "Para continuar, confirme quién es usted.",
      "full_name": "Nombre completo",
      "date_of_birth": "Fecha de nacimiento",
      "sent_securely": "Se envía de forma segura al consultorio. No se muestra en el chat.",
      "verify": "Verificar",
      "details_sent": "Datos enviados de forma segura.",
      "name_required": "Escriba su nombre completo.",
      "dob_incomplete": "Escriba la fecha de nacimiento completa.",
      "dob_required": "Escriba su fecha de nacimiento.",
      "dob_format": "Escriba la fecha como AAAA-MM-DD.",
      "dob_invalid": "Escriba una fecha válida.",
      "dob_future": "La fecha de nacimiento no puede ser futura.",
      "dob_year": "Revise el año.",
      "code_title": "Escriba su código",
      "code_reason": "Le enviamos por mensaje de texto un código de 6 dígitos.",
      "tries_left": "Le quedan {n} intentos.",
      "code_label": "Código de 6 dígitos",
      "code_hint": "El código vence en 10 minutos. No se lo dé a nadie.",
      "confirm": "Confirmar",
      "retype": "Escribir mis datos otra vez",
      "check_details": "Revise su nombre y su fecha de nacimiento.",
      "code_digits": "Escriba los 6 dígitos del mensaje de texto.",
      "code_sent": "Código enviado de forma segura.",
      "error.rate_limited": "Está enviando mensajes muy rápido.",
      "error.message_too_long": "Ese mensaje es demasiado largo.",
      "error.empty_message": "Escriba un mensaje.",
      "error.bad_frame": "No pudimos leer ese mensaje.",
      "error.practice_unknown": "Este chat no está configurado para ese consultorio.",
      "error.origin_not_allowed": "Este chat no está activado en este sitio web. Comuníquese con el consultorio.",
      "error.too_many_connections": "Hay demasiados chats abiertos desde aquí.",
      "error.too_many_conversations": "Se iniciaron demasiados chats desde aquí. Inténtelo más tarde.",
      "error.resumed_elsewhere": "Este chat continuó en otra ventana."
    }
  } /* strings:end */;
  const LANGUAGES = Object.keys(STRINGS);

  /** "es-MX" -> "es"; anything we have no table for -> null. */
  function languageOf(tag) {
    const base = String(tag || '').toLowerCase().split(/[-_]/)[0];
    return LANGUAGES.includes(base) ? base : null;
  }
  // Before the first message the browser's language decides; then the conversation's.
  let lang = languageOf(navigator.language) || 'en';

  /** The interface string `key` in the current language, with {placeholders} filled in. */
  function t(key, vars) {
    const text = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
  }
  function titleText() {
    return CUSTOM_TITLE || t('title');
  }

  const MAX_LEN = 1000;
  const COUNTER_FROM = 900;
  const LOCAL_TYPING_MS = 15000;
  const BACKOFF_BASE_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const SESSION_TIMEOUT_MS = 10000; // socket open but no "session" frame: drop and retry
  const PENDING_NOTE_MS = 2500; // unacknowledged this long: show "Waiting to send…"

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

/* panel */
.panel {
  position: fixed; inset: 0; z-index: 1;
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--fd-bg);
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

@media (prefers-reduced-motion: reduce) {
  .dot { animation: none; opacity: 0.8; }
}
@media (forced-colors: active) {
  .primary, .msg, .typing, .alert { border: 1px solid CanvasText; }
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
    resumeToken: storageGet(STORAGE_KEY), // this frame's own storage, never the host page's
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
        'inset: 0 !important;'
    );
    const shadow = host.attachShadow({ mode: 'open' });
    ui.host = host;
    ui.shadow = shadow;

    const style = document.createElement('style');
    style.textContent = CSS;

    const root = el('div', { class: 'root' });

    const title = el('h2', { class: 'title', id: 'fd-title', text: titleText() });
    const subtitle = el('p', { class: 'subtitle', 'data-testid': 'fd-subtitle', text: t('subtitle_bot') });
    const closeBtn = el(
      'button',
      { class: 'close', type: 'button', 'aria-label': t('close'), 'data-testid': 'fd-close', hidden: !EMBEDDED },
      svg(ICON_CLOSE, 22)
    );
    const header = el('div', { class: 'header' }, el('div', { class: 'titles' }, title, subtitle), closeBtn);

    const status = el('div', { class: 'status', role: 'status', 'data-testid': 'fd-status', hidden: true });

    const log = el('div', {
      class: 'log',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': t('conversation'),
      'data-testid': 'fd-log',
    });
    const typing = el(
      'div',
      { class: 'typing', role: 'status', 'aria-label': t('typing'), 'data-testid': 'fd-typing', hidden: true },
      el('span', { class: 'sr-only', text: t('typing') }),
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'dot', 'aria-hidden': 'true' })
    );
    const scroll = el('div', { class: 'scroll' }, log, typing);

    const input = el('textarea', {
      class: 'input',
      id: 'fd-input',
      rows: '1',
      placeholder: t('placeholder'),
      autocomplete: 'off',
      enterkeyhint: 'send',
      'aria-describedby': 'fd-counter fd-composer-error',
      'data-testid': 'fd-input',
    });
    const sendBtn = el('button', { class: 'primary send', type: 'submit', 'data-testid': 'fd-send', text: t('send') });
    const counter = el('div', { class: 'counter', id: 'fd-counter', 'data-testid': 'fd-counter', hidden: true });
    const composerError = el('div', {
      class: 'composer-error',
      id: 'fd-composer-error',
      role: 'alert',
      'data-testid': 'fd-composer-error',
    });
    const form = el(
      'form',
      { class: 'composer', novalidate: true, 'aria-label': t('send_a_message') },
      el('label', { class: 'sr-only', for: 'fd-input', text: t('message') }),
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
        'aria-label': titleText(),
        'data-testid': 'fd-panel',
        hidden: true,
      },
      header,
      status,
      scroll,
      form
    );

    root.append(panel);
    shadow.append(style, root);
    document.body.append(host);

    Object.assign(ui, { root, panel, title, subtitle, closeBtn, status, scroll, log, typing, input, sendBtn, counter, composerError, form });

    // --- events
    closeBtn.addEventListener('click', () => close());
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.open) {
        e.preventDefault();
        e.stopPropagation();
        close();
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
      row.append(el('div', { class: 'sender', 'data-testid': 'fd-sender', text: name || t('staff') }));
    } else {
      row.append(el('span', { class: 'sr-only', text: role === 'patient' ? t('you_said') : t('assistant') }));
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
      const group = el('div', { class: 'choices', role: 'group', 'aria-label': t('reply_options') });
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
        text: message || t('something_wrong'),
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
    return n ? t('staff_named', { name: n }) : t('staff_team');
  }

  function setStatus(text) {
    ui.status.hidden = !text;
    ui.status.textContent = text || '';
  }

  /** The launcher on the host page shows the badge: it gets the count, nothing else. */
  function updateBadge() {
    tellHost({ type: 'fd:unread', count: state.unread });
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
        if (state.queue.includes(entry)) setNote(entry, t('waiting'));
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
      ui.composerError.textContent = t('unavailable');
      return false;
    }
    const n = cpLen(text);
    if (n > MAX_LEN) {
      ui.composerError.textContent = t('too_long', { n, max: MAX_LEN });
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
    if (badInput) return t('dob_incomplete');
    if (!value) return t('dob_required');
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!m) return t('dob_format');
    const y = Number(m[1]);
    const mo = Number(m[2]);
    const d = Number(m[3]);
    const dt = new Date(Date.UTC(y, mo - 1, d));
    if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) {
      return t('dob_invalid');
    }
    if (value > todayISO()) return t('dob_future');
    if (y < 1900) return t('dob_year');
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
      el('div', { class: 'identity-head', id: ids.head }, svg(ICON_LOCK, 16), t('verify_title')),
      el('p', { class: 'identity-reason', text: asText(reason).trim() || t('verify_reason') }),
      el('div', { class: 'field' }, el('label', { for: ids.name, text: t('full_name') }), nameInput, nameErr),
      el('div', { class: 'field' }, el('label', { for: ids.dob, text: t('date_of_birth') }), dobInput, dobErr),
      el('p', { class: 'identity-hint', text: t('sent_securely') }),
      el('button', { class: 'primary', type: 'submit', 'data-testid': 'fd-identity-submit', text: t('verify') })
    );

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const fullName = nameInput.value.replace(/\s+/g, ' ').trim();
      const dob = dobInput.value.trim();
      const nameMsg = fullName ? '' : t('name_required');
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
        t('details_sent')
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
    const left = typeof f.attempts_left === 'number' ? ` ${t('tries_left', { n: f.attempts_left })}` : '';
    const form = el(
      'form',
      { class: 'identity', novalidate: true, 'aria-labelledby': ids.head, 'data-testid': 'fd-otp' },
      el('div', { class: 'identity-head', id: ids.head }, svg(ICON_LOCK, 16), t('code_title')),
      el('p', { class: 'identity-reason', text: (asText(f.reason).trim() || t('code_reason')) + left }),
      el('div', { class: 'field' }, el('label', { for: ids.code, text: t('code_label') }), codeInput, codeErr),
      el('p', { class: 'identity-hint', text: t('code_hint') }),
      el('button', { class: 'primary', type: 'submit', 'data-testid': 'fd-otp-submit', text: t('confirm') }),
      el('button', { class: 'link', type: 'button', 'data-testid': 'fd-otp-retype', text: t('retype') })
    );
    // No code arrives when the details match no record (the server does not say which):
    // let the patient correct a typo without waiting for the code to expire.
    form.querySelector('[data-testid="fd-otp-retype"]').addEventListener('click', () => {
      showIdentityForm(t('check_details'));
    });

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const code = codeInput.value.replace(/\D/g, '');
      const msg = code.length === 6 ? '' : t('code_digits');
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
        t('code_sent')
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
      case 'language': // the patient's words decided or switched the conversation's language
        setLanguage(f.language);
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
        if (f.owner === 'bot') setSubtitle(t('subtitle_bot'));
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
      addSystemLine(t('new_conversation'));
    }
    if (cid) state.conversationId = cid;
    setLanguage(f.language);
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
    let sub = t('subtitle_bot');
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
      setNote(entry, t('not_sent'), true);
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
    addAlert(errorText(code, asText(f.message).trim()), code);
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
    setStatus(t('reconnecting'));
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

  // --- language ---------------------------------------------------------------------------

  /** Server messages are English; in another language the table's text replaces them. */
  function errorText(code, serverText) {
    if (lang === 'en' && serverText) return serverText;
    const key = `error.${code}`;
    return STRINGS[lang][key] || serverText || t('something_wrong');
  }

  /** Follow the conversation's language (from the server's session and ack frames). */
  function setLanguage(value) {
    const next = languageOf(value);
    if (!next || next === lang) return;
    lang = next;
    applyLanguage();
  }

  /** Re-label what is on screen; messages already shown keep the words they had. */
  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = titleText();
    if (!state.booted) return;
    ui.title.textContent = titleText();
    ui.panel.setAttribute('aria-label', titleText());
    ui.closeBtn.setAttribute('aria-label', t('close'));
    ui.log.setAttribute('aria-label', t('conversation'));
    ui.typing.setAttribute('aria-label', t('typing'));
    ui.typing.querySelector('.sr-only').textContent = t('typing');
    ui.input.setAttribute('placeholder', t('placeholder'));
    ui.sendBtn.textContent = t('send');
    ui.form.setAttribute('aria-label', t('send_a_message'));
    ui.form.querySelector('label').textContent = t('message');
    if (ui.subtitle.textContent === STRINGS.en.subtitle_bot || ui.subtitle.textContent === STRINGS.es.subtitle_bot) {
      setSubtitle(t('subtitle_bot'));
    }
    tellHost({ type: 'fd:language', language: lang });
  }

  // --- the launcher on the host page --------------------------------------------------------

  // The host page's origin, learned from its first message. Only our parent may talk to us,
  // and frame-ancestors already restricts who that can be to the practice's allowed sites.
  let hostOrigin = null;

  /** A message to the launcher: open/close state, unread count, language; never chat content. */
  function tellHost(message) {
    if (!EMBEDDED) return;
    // Before the launcher said hello only "ready" goes out, and it carries nothing.
    if (hostOrigin) window.parent.postMessage(message, hostOrigin);
    else if (message.type === 'fd:ready') window.parent.postMessage(message, '*');
  }

  function onHostMessage(event) {
    if (!EMBEDDED || event.source !== window.parent) return;
    const m = event.data;
    if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
    if (hostOrigin === null) {
      if (m.type !== 'fd:hello' || typeof event.origin !== 'string' || event.origin === 'null') return;
      hostOrigin = event.origin;
      tellHost({ type: 'fd:language', language: lang });
      if (m.open === true) open({ focus: false });
      return;
    }
    if (event.origin !== hostOrigin) return;
    if (m.type === 'fd:open') open({ focus: m.focus !== false });
    else if (m.type === 'fd:close') close({ fromHost: true });
  }

  // --- open / close -----------------------------------------------------------------------

  function open({ focus = true } = {}) {
    if (!state.booted) return;
    if (!state.open) {
      state.open = true;
      ui.panel.hidden = false;
      ui.root.classList.add('open');
      state.unread = 0;
      updateBadge();
      scrollToBottom();
    }
    ensureConnected();
    if (focus) ui.input.focus({ preventScroll: true });
  }

  /** Close the panel; unless the launcher asked, tell it (it hides the frame, takes focus). */
  function close({ fromHost = false } = {}) {
    if (!state.booted || !state.open || !EMBEDDED) return;
    state.open = false;
    ui.panel.hidden = true;
    ui.root.classList.remove('open');
    if (!fromHost) tellHost({ type: 'fd:close' });
  }

  // --- boot -------------------------------------------------------------------------------

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

    applyLanguage();
    if (!EMBEDDED) open({ focus: false }); // a page of its own: the chat is the page
    else if (state.resumeToken) connect(); // resume an ongoing conversation in this tab
    window.addEventListener('message', onHostMessage);
    tellHost({ type: 'fd:ready' });
  }

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
