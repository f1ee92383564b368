/* Staff console live updates. No build step, no framework.
 *
 * The pages work without this script; it only keeps them current. A WebSocket
 * (/console/ws, same session cookie) says which conversation changed; the script then
 * fetches JSON and updates the page. Patient text is untrusted: it only ever goes into the
 * page through textContent, never innerHTML. If the socket cannot be kept open, the page
 * polls instead.
 */
(function () {
  'use strict';

  var queueRows = document.getElementById('queue-rows');
  var conversationEl = document.getElementById('conversation');
  var liveStatus = document.getElementById('live-status');
  var connectionEl = document.getElementById('live-connection');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var POLL_MS = 15000;
  var pollTimer = null;
  var retryMs = 1000;

  function announce(text) {
    if (!liveStatus) return;
    liveStatus.textContent = '';
    // A fresh text node makes screen readers announce repeated messages too.
    window.setTimeout(function () { liveStatus.textContent = text; }, 50);
  }

  function setConnection(state, text) {
    if (!connectionEl) return;
    connectionEl.setAttribute('data-state', state);
    connectionEl.textContent = text;
  }

  function getJSON(url) {
    return fetch(url, {
      credentials: 'same-origin',
      // Automatic refreshes are not staff activity: an unattended tab still times out.
      headers: { Accept: 'application/json', 'X-Frontdesk-Background': '1' }
    }).then(function (response) {
      if (response.status === 401) {
        window.location.reload(); // signed out: the server sends us to the sign-in page
        throw new Error('signed out');
      }
      if (!response.ok) throw new Error('HTTP ' + response.status);
      return response.json();
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function srOnly(text) { return el('span', 'sr-only', text); }

  /* ---- queue page ---- */

  function claimForm(item) {
    var form = el('form', 'inline-form');
    form.method = 'post';
    form.action = '/console/conversations/' + encodeURIComponent(item.conversation_id) + '/claim';
    var token = document.createElement('input');
    token.type = 'hidden';
    token.name = 'csrf_token';
    token.value = csrf;
    form.appendChild(token);
    var button = el('button', 'button', 'Claim');
    button.type = 'submit';
    button.appendChild(srOnly(' conversation: ' + item.reason));
    form.appendChild(button);
    return form;
  }

  function queueRow(item) {
    var row = el('tr', 'queue-row');
    row.setAttribute('data-conversation-id', item.conversation_id);
    row.setAttribute('data-reason', item.reason_code);
    var reason = el('td');
    if (item.urgent) {
      reason.appendChild(el('span', 'badge badge-danger', 'Urgent'));
      reason.appendChild(document.createTextNode(' '));
    }
    reason.appendChild(el('span', 'queue-reason', item.reason));
    if (!item.identified) {
      reason.appendChild(document.createTextNode(' '));
      reason.appendChild(el('span', 'badge', 'Not identified'));
    }
    row.appendChild(reason);
    var channel = el('td', null, item.channel + ' ');
    channel.appendChild(el('span', 'muted', '· ' + item.language));
    row.appendChild(channel);
    var waiting = el('td', 'nowrap');
    if (item.waiting_seconds !== null) waiting.appendChild(el('span', 'badge badge-warn', item.waiting));
    else waiting.textContent = item.waiting;
    row.appendChild(waiting);
    row.appendChild(el('td', null, item.assignee_name || 'Nobody yet'));
    var actions = el('td', 'button-row');
    var open = el('a', 'button button-quiet', 'Open');
    open.href = '/console/conversations/' + encodeURIComponent(item.conversation_id);
    open.appendChild(srOnly(' conversation: ' + item.reason));
    actions.appendChild(open);
    if (item.assignee_id === null) actions.appendChild(claimForm(item));
    row.appendChild(actions);
    return row;
  }

  function refreshQueue(event) {
    return getJSON('/console/api/queue').then(function (data) {
      var known = {};
      Array.prototype.forEach.call(queueRows.querySelectorAll('tr[data-conversation-id]'), function (row) {
        known[row.getAttribute('data-conversation-id')] = true;
      });
      // Keep keyboard focus on the same control if its row survives the refresh.
      var focused = document.activeElement;
      var focusedRow = focused && focused.closest ? focused.closest('tr[data-conversation-id]') : null;
      var focusedId = focusedRow ? focusedRow.getAttribute('data-conversation-id') : null;
      var focusedLabel = focused ? focused.textContent : null;
      var fresh = [];
      while (queueRows.firstChild) queueRows.removeChild(queueRows.firstChild);
      data.items.forEach(function (item) {
        queueRows.appendChild(queueRow(item));
        if (!known[item.conversation_id]) fresh.push(item);
      });
      document.getElementById('queue-empty').hidden = data.items.length > 0;
      if (focusedId) {
        var again = queueRows.querySelector('tr[data-conversation-id="' + CSS.escape(focusedId) + '"]');
        if (again) {
          Array.prototype.some.call(again.querySelectorAll('a, button'), function (control) {
            if (control.textContent === focusedLabel) { control.focus(); return true; }
            return false;
          });
        }
      }
      if (fresh.length === 1) announce('New escalation: ' + fresh[0].reason + ' (' + fresh[0].channel + ').');
      else if (fresh.length > 1) announce(fresh.length + ' new escalations.');
      else if (event && event.type === 'conversation.patient_message') announce('A patient in the queue wrote again.');
    });
  }

  /* ---- conversation page ---- */

  function authorLabel(entry) {
    if (entry.kind === 'patient') return 'Patient';
    if (entry.kind === 'bot') return 'Assistant';
    if (entry.kind === 'note') return 'Internal note · ' + (entry.author || 'Staff');
    return entry.author || 'Staff';
  }

  function localTime(iso) {
    // Like the server-rendered times: the practice's zone, e.g. "Nov 28, 06:25 AM EST".
    var zone = conversationEl.getAttribute('data-timezone') || undefined;
    try {
      var parts = {};
      new Intl.DateTimeFormat('en-US', {
        timeZone: zone, month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit',
        hour12: true, timeZoneName: 'short'
      }).formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
      return parts.month + ' ' + parts.day + ', ' + parts.hour + ':' + parts.minute + ' ' +
        parts.dayPeriod + ' ' + parts.timeZoneName;
    } catch (e) {
      return new Date(iso).toLocaleString();
    }
  }

  function transcriptItem(entry) {
    var item = el('li', 'msg msg-' + entry.kind);
    item.setAttribute('data-kind', entry.kind);
    item.setAttribute('data-message-id', String(entry.id));
    var meta = el('span', 'msg-meta', authorLabel(entry) + ' · ');
    var time = el('time', null, localTime(entry.at));
    time.setAttribute('datetime', entry.at);
    meta.appendChild(time);
    item.appendChild(meta);
    item.appendChild(document.createTextNode(entry.text));
    return item;
  }

  function refreshConversation() {
    var id = conversationEl.getAttribute('data-conversation-id');
    var after = conversationEl.getAttribute('data-last-message-id') || '0';
    var url = '/console/api/conversations/' + encodeURIComponent(id) + '/messages?after=' + encodeURIComponent(after);
    return getJSON(url).then(function (data) {
      var list = document.getElementById('transcript');
      var last = parseInt(after, 10) || 0;
      var fromPatient = 0;
      data.entries.forEach(function (entry) {
        if (entry.id <= last || list.querySelector('[data-message-id="' + entry.id + '"]')) return;
        list.appendChild(transcriptItem(entry));
        last = Math.max(last, entry.id);
        if (entry.kind === 'patient') fromPatient += 1;
      });
      conversationEl.setAttribute('data-last-message-id', String(last));
      if (fromPatient) announce(fromPatient === 1 ? 'New message from the patient.' : fromPatient + ' new messages from the patient.');
      var owner = document.getElementById('owner-status');
      if (owner && (owner.getAttribute('data-owner') !== data.owner || owner.getAttribute('data-status') !== data.status)) {
        owner.setAttribute('data-owner', data.owner);
        owner.setAttribute('data-status', data.status);
        owner.textContent = 'This conversation changed (someone claimed, handed back or resolved it). Reload the page to see the current actions.';
        announce(owner.textContent);
      }
    });
  }

  /* ---- wiring ---- */

  var refresh = null;
  var mine = null;
  if (queueRows) {
    refresh = refreshQueue;
    mine = function () { return true; };
  } else if (conversationEl) {
    refresh = refreshConversation;
    mine = function (event) { return event.conversation_id === conversationEl.getAttribute('data-conversation-id'); };
  }
  if (!refresh) return;

  function startPolling() {
    if (pollTimer === null) pollTimer = window.setInterval(function () { refresh(null).catch(function () {}); }, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (!('WebSocket' in window)) { startPolling(); return; }
    var scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    var socket = new WebSocket(scheme + window.location.host + '/console/ws');
    socket.addEventListener('open', function () {
      retryMs = 1000;
      stopPolling();
      setConnection('live', 'Live updates: on');
      refresh(null).catch(function () {}); // catch up on anything missed while away
    });
    socket.addEventListener('message', function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event && typeof event.type === 'string' && mine(event)) refresh(event).catch(function () {});
    });
    socket.addEventListener('close', function (close) {
      if (close.code === 4401) { window.location.reload(); return; } // signed out
      setConnection('offline', 'Live updates: reconnecting…');
      startPolling();
      window.setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
  }

  connect();
})();
