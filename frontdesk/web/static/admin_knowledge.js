/* Knowledge documents page: upload a file as the raw request body, then poll the ingest's
 * status until it ends and reload the list. No build step, no framework. */
(function () {
  'use strict';

  var form = document.getElementById('knowledge-upload');
  var input = document.getElementById('knowledge-file');
  var errorEl = document.getElementById('knowledge-error');
  var statusEl = document.getElementById('ingest-status');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var POLL_MS = 700;

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function describe(status) {
    if (status.state === 'queued' || status.state === 'running') {
      return 'Re-indexing: ' + status.done + ' of ' + status.total + ' files.';
    }
    if (status.state === 'done') return 'Re-index finished: ' + status.message + '.';
    if (status.state === 'failed') return 'Re-index failed: ' + status.message;
    return 'No re-index has run since the service started.';
  }

  function poll() {
    fetch('/console/admin/knowledge/status', {
      credentials: 'same-origin',
      headers: { 'X-Frontdesk-Background': '1', Accept: 'application/json' }
    }).then(function (response) { return response.json(); }).then(function (status) {
      statusEl.textContent = describe(status);
      statusEl.setAttribute('data-state', status.state);
      if (status.state === 'queued' || status.state === 'running') {
        window.setTimeout(poll, POLL_MS);
      } else if (status.state === 'done') {
        window.location.reload();
      }
    }).catch(function () { window.setTimeout(poll, POLL_MS * 4); });
  }

  if (statusEl) {
    var state = statusEl.getAttribute('data-state');
    if (state === 'queued' || state === 'running') poll();
  }
  if (!form) return;
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var file = input.files && input.files[0];
    if (!file) return;
    showError('');
    var existing = document.querySelector('tr[data-document="' + CSS.escape(file.name) + '"]');
    var url = '/console/admin/knowledge/documents/' + encodeURIComponent(file.name) +
      (existing ? '?replace=true' : '');
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/octet-stream' },
      body: file
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          showError(body.error || body.detail || 'The upload was refused.');
          return;
        }
        statusEl.textContent = 'Re-indexing…';
        statusEl.setAttribute('data-state', 'queued');
        poll();
      });
    }).catch(function () { showError('The upload failed; check the connection and retry.'); });
  });
}());
