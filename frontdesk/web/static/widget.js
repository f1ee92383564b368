/*!
 * Frontdesk chat widget: the launcher a practice embeds on its website. No build step.
 *
 *   <script src="https://HOST/widget.js" data-practice="SLUG" async></script>
 *
 * Optional attributes: data-title="Chat with us", data-open="true".
 *
 * This script only draws the launcher button and opens the chat, a page of our own origin
 * (/chat/frame), in a sandboxed iframe. The chat's socket, its resume token (in the frame's
 * own sessionStorage) and everything the patient types stay inside that frame, out of this
 * page's reach. The two talk only by postMessage, checked by origin and source, and only
 * about opening, closing, the unread count and the interface language.
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
  const SERVICE = scriptUrl.origin; // the only origin the frame's messages may come from
  const CUSTOM_TITLE = (script.getAttribute('data-title') || '').trim();
  const START_OPEN = (script.getAttribute('data-open') || '').trim().toLowerCase() === 'true';
  // Links in the chat open in a new tab (popups); nothing else beyond scripts and forms.
  const SANDBOX = 'allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox';

  // --- interface strings: every key in both languages (tests/web/test_widget_strings.py).
  const STRINGS = /* strings:begin */ {
    "en": {
      "title": "Chat with us",
      "open": "Open chat",
      "close": "Close chat",
      "unread": "{n} unread"
    },
    "es": {
      "title": "Chatee con nosotros",
      "open": "Abrir el chat",
      "close": "Cerrar el chat",
      "unread": "{n} sin leer"
    }
  } /* strings:end */;

  function languageOf(tag) {
    const base = String(tag || '').toLowerCase().split(/[-_]/)[0];
    return Object.prototype.hasOwnProperty.call(STRINGS, base) ? base : null;
  }
  // The browser's language until the chat tells us the conversation's.
  let lang = languageOf(navigator.language) || 'en';
  function t(key, vars) {
    const text = STRINGS[lang][key] || STRINGS.en[key];
    return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
  }
  const titleText = () => CUSTOM_TITLE || t('title');

  function frameUrl() {
    const url = new URL('/chat/frame', SERVICE);
    url.searchParams.set('practice', slug);
    if (CUSTOM_TITLE) url.searchParams.set('title', CUSTOM_TITLE);
    return url.href;
  }

  const CSS = `
:host { all: initial; }
[hidden] { display: none !important; }
*, *::before, *::after { box-sizing: border-box; }
.launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2;
  width: 56px; height: 56px; padding: 0; margin: 0; border: 0; border-radius: 50%;
  display: grid; place-items: center; cursor: pointer;
  background: #1a5d7a; color: #fff;
  box-shadow: 0 4px 14px rgba(16, 42, 67, 0.28);
  transition: background-color 0.15s ease, transform 0.15s ease;
  font: 700 12px/1 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
.launcher:hover { background: #134a62; }
.launcher:active { transform: scale(0.96); }
.launcher:focus-visible { outline: none; box-shadow: 0 0 0 3px #fff, 0 0 0 6px #1a5d7a; }
.launcher .icon-close { display: none; }
.root.open .launcher .icon-open { display: none; }
.root.open .launcher .icon-close { display: block; }
.badge {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; border: 2px solid #fff; background: #b42318; color: #fff;
  font-size: 12px; font-weight: 700; line-height: 18px; text-align: center;
}
.frame {
  position: fixed; right: 20px; bottom: 88px; z-index: 1;
  width: 380px; max-width: calc(100vw - 40px);
  height: 600px; max-height: calc(100vh - 108px);
  overflow: hidden; background: #fff;
  border: 1px solid rgba(16, 42, 67, 0.1); border-radius: 14px;
  box-shadow: 0 12px 40px rgba(16, 42, 67, 0.22), 0 2px 6px rgba(16, 42, 67, 0.12);
}
.frame iframe { display: block; width: 100%; height: 100%; border: 0; margin: 0; padding: 0; }
@media (max-width: 480px) {
  .frame { inset: 0; width: auto; max-width: none; height: auto; max-height: none; border: 0; border-radius: 0; box-shadow: none; }
  .root.open .launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
@media (forced-colors: active) { .launcher { border: 1px solid CanvasText; } }
`;

  function svg(pathD, size) {
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

  const REFUSED_AFTER_MS = 1500;
  const state = { booted: false, open: false, ready: false, unread: 0, focusOnReady: false };
  const ui = {};

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
    const style = document.createElement('style');
    style.textContent = CSS;
    const root = document.createElement('div');
    root.className = 'root';

    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.setAttribute('aria-hidden', 'true');
    badge.hidden = true;
    const iconOpen = svg('M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z', 26);
    iconOpen.classList.add('icon-open');
    const iconClose = svg('M6 9l6 6 6-6', 28);
    iconClose.classList.add('icon-close');
    const launcher = document.createElement('button');
    launcher.className = 'launcher';
    launcher.type = 'button';
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', 'fd-frame');
    launcher.setAttribute('data-testid', 'fd-launcher');
    launcher.append(iconOpen, iconClose, badge);

    const frame = document.createElement('div');
    frame.className = 'frame';
    frame.id = 'fd-frame';
    frame.hidden = true;
    const iframe = document.createElement('iframe');
    // On our own pages (the demo) the frame is same-origin with its parent and could lift
    // any sandbox itself (Chromium warns so): the sandbox only means something elsewhere.
    if (window.location.origin !== SERVICE) iframe.setAttribute('sandbox', SANDBOX);
    iframe.setAttribute('data-testid', 'fd-chat-frame');
    iframe.setAttribute('referrerpolicy', 'origin');
    // The frame says "ready" while it loads; a frame that loaded without saying so was not
    // allowed here (frame-ancestors): then there is no chat on this page, and no button.
    iframe.addEventListener('load', () => {
      setTimeout(() => {
        if (!state.ready) refuse();
      }, REFUSED_AFTER_MS);
    });
    iframe.src = frameUrl();
    frame.append(iframe);

    root.append(frame, launcher);
    shadow.append(style, root);
    document.body.append(host);
    Object.assign(ui, { root, launcher, badge, frame, iframe });
    label();

    launcher.addEventListener('click', () => (state.open ? close({ returnFocus: true }) : open()));
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.open) {
        e.preventDefault();
        close({ returnFocus: true });
      }
    });
  }

  function label() {
    ui.launcher.setAttribute('aria-label', state.open ? t('close') : t('open'));
    ui.launcher.title = titleText();
    ui.iframe.title = titleText();
  }

  function updateBadge() {
    ui.badge.hidden = state.unread === 0;
    ui.badge.textContent = state.unread > 9 ? '9+' : String(state.unread);
    if (state.unread) ui.launcher.setAttribute('aria-description', t('unread', { n: state.unread }));
    else ui.launcher.removeAttribute('aria-description');
  }

  /** Tell the chat frame something; only our own origin can receive it. */
  function tellFrame(message) {
    const target = ui.iframe.contentWindow;
    if (target) target.postMessage(message, SERVICE);
  }

  function onFrameMessage(event) {
    // Only the frame we opened, served from our own origin, may talk to the launcher.
    if (event.source !== ui.iframe.contentWindow || event.origin !== SERVICE) return;
    const m = event.data;
    if (!m || typeof m !== 'object' || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'fd:ready':
        state.ready = true;
        tellFrame({ type: 'fd:hello', open: state.open });
        if (state.open && state.focusOnReady) tellFrame({ type: 'fd:open', focus: true });
        break;
      case 'fd:close':
        close({ returnFocus: true, fromFrame: true });
        break;
      case 'fd:unread':
        if (Number.isInteger(m.count) && m.count >= 0) {
          state.unread = state.open ? 0 : m.count;
          updateBadge();
        }
        break;
      case 'fd:language': {
        const next = languageOf(m.language);
        if (next && next !== lang) {
          lang = next;
          label();
          updateBadge();
        }
        break;
      }
      default:
        break;
    }
  }

  function refuse() {
    state.refused = true;
    state.open = false;
    ui.root.hidden = true;
    console.warn(
      "[frontdesk] widget: this website is not among the practice's allowed widget origins, " +
        'so the browser will not show the chat here'
    );
  }

  function open({ focus = true } = {}) {
    if (!state.booted || state.refused) return;
    state.open = true;
    ui.frame.hidden = false;
    ui.root.classList.add('open');
    ui.launcher.setAttribute('aria-expanded', 'true');
    state.unread = 0;
    updateBadge();
    label();
    if (focus) ui.iframe.focus();
    state.focusOnReady = focus;
    if (state.ready) tellFrame({ type: 'fd:open', focus });
  }

  function close({ returnFocus = false, fromFrame = false } = {}) {
    if (!state.booted || !state.open) return;
    state.open = false;
    ui.frame.hidden = true;
    ui.root.classList.remove('open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    label();
    if (!fromFrame && state.ready) tellFrame({ type: 'fd:close' });
    if (returnFocus) ui.launcher.focus({ preventScroll: true });
  }

  const pending = [];
  function whenBooted(fn) {
    if (state.booted) fn();
    else pending.push(fn);
  }

  function boot() {
    if (state.booted) return;
    window.addEventListener('message', onFrameMessage);
    build();
    state.booted = true;
    if (START_OPEN) open({ focus: false }); // don't steal focus from the host page on load
    for (const fn of pending.splice(0)) fn();
  }

  window.FrontdeskWidget = Object.freeze({
    open: () => whenBooted(() => open()),
    close: () => whenBooted(() => close()),
  });

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
