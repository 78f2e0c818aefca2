// (a) nginx/api-docs/openapi.json is a valid OpenAPI 3 document (checked by
// @apidevtools/swagger-parser against the OpenAPI schema, $refs resolved)
// and it says what the contract (API.md) says: its objects, errors,
// headers, parameters and routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { docOperations, docPath, isNotAllowedOp, loadDoc, normPath, rel } from './lib.mjs';

const doc = loadDoc();
const ops = docOperations(doc);
const opsOf = (pred) => ops.filter(pred);
const responseOf = (o, status) => {
  const r = o.op.responses[String(status)];
  return r && r.$ref ? doc.components.responses[r.$ref.split('/').pop()] : r;
};
const refName = (x) => x?.$ref?.split('/').pop();

test('the document validates as OpenAPI 3 (swagger-parser)', async () => {
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.match(api.openapi, /^3\./);
});

test('schemas Application, Chat, Message, Error have the fields of API.md', () => {
  const s = doc.components.schemas;
  const fields = {
    Application: ['token', 'name', 'chats_count', 'created_at', 'updated_at'],
    Chat: ['number', 'messages_count', 'created_at', 'updated_at'],
    Message: ['number', 'body', 'created_at', 'updated_at'],
    Error: ['error', 'message'],
  };
  for (const [name, want] of Object.entries(fields)) {
    assert.ok(s[name], `schema ${name}`);
    assert.deepEqual(Object.keys(s[name].properties).sort(), [...want].sort(), `${name} properties`);
    assert.deepEqual([...s[name].required].sort(), [...want].sort(), `${name} required`);
  }
  assert.deepEqual(
    [...s.Error.properties.error.enum].sort(),
    ['bad_request', 'method_not_allowed', 'not_found', 'payload_too_large', 'service_unavailable',
      'too_many_requests', 'validation_failed'],
  );
});

test('headers Location, Link, Allow and Retry-After are documented where they are sent', () => {
  const h = doc.components.headers;
  for (const name of ['Location', 'Link', 'Allow', 'Retry-After']) assert.ok(h[name], `header ${name}`);
  const created = opsOf((o) => o.method === 'POST' && o.path !== '/api-docs');
  for (const o of created) {
    const r = o.op.responses['201'] ?? o.op.responses['202'];
    assert.ok(r?.headers?.Location, `${o.method} ${o.path}: Location on its 201/202`);
  }
  for (const o of opsOf((o) => o.method === 'GET' && (o.op.parameters ?? []).some((p) => refName(p) === 'after'))) {
    assert.ok(o.op.responses['200'].headers?.Link, `${o.method} ${o.path}: Link on its 200`);
  }
  assert.ok(doc.components.responses.MethodNotAllowed.headers.Allow);
  assert.ok(doc.components.responses.TooManyRequests.headers['Retry-After']);
  assert.ok(responseOf(opsOf((o) => o.op.operationId === 'createApplication')[0], 429), 'POST /applications documents 429');
});

test('every operation documents the errors it can answer', () => {
  for (const o of ops) {
    if (isNotAllowedOp(o.op) || o.path.startsWith('/api-docs')) continue;
    const where = `${o.method} ${o.path}`;
    const has = (s) => Object.hasOwn(o.op.responses, String(s));
    assert.ok(has(503), `${where}: 503`);
    if (o.path.includes('{')) assert.ok(has(404), `${where}: 404`);
    if (o.op.requestBody) {
      assert.ok(has(400), `${where}: 400 (body not JSON or not an object)`);
      assert.ok(has(413), `${where}: 413 (body over 1 MiB)`);
    }
    const bodySchema = o.op.requestBody?.content?.['application/json']?.schema;
    const bodyName = refName(bodySchema);
    if (bodyName && bodyName !== 'Empty') assert.ok(has(422), `${where}: 422 (validation)`);
    const query = (o.op.parameters ?? []).map((p) => (p.$ref ? doc.components.parameters[refName(p)] : p))
      .filter((p) => p.in === 'query');
    if (query.length) assert.ok(has(400), `${where}: 400 (bad query parameter)`);
    for (const [status, r] of Object.entries(o.op.responses)) {
      if (Number(status) >= 400 && o.path !== '/health') {
        const schema = (r.$ref ? doc.components.responses[refName(r)] : r).content['application/json'].schema;
        assert.equal(refName(schema), 'Error', `${where} ${status}: the Error body`);
      }
    }
  }
});

test('lists page with limit and after, search with q and limit', () => {
  const lists = opsOf((o) => o.method === 'GET' && /\/(chats|messages)$/.test(o.path));
  assert.equal(lists.length, 2);
  for (const o of lists) {
    assert.deepEqual(o.op.parameters.map(refName).sort(), ['after', 'limit']);
    assert.equal(o.op.responses['200'].content['application/json'].schema.type, 'array');
  }
  const p = doc.components.parameters;
  assert.deepEqual([p.limit.schema.minimum, p.limit.schema.maximum, p.limit.schema.default], [1, 1000, 50]);
  assert.equal(p.after.schema.minimum, 0);
  const search = opsOf((o) => o.path.endsWith('/messages/search'))[0];
  const q = search.op.parameters.find((x) => x.name === 'q');
  const limit = search.op.parameters.find((x) => x.name === 'limit');
  assert.equal(q.required, true);
  assert.equal(limit.schema.default, 20);
});

test('request bodies: required where API.md requires one', () => {
  const body = (id) => opsOf((o) => o.op.operationId === id)[0].op.requestBody;
  assert.equal(body('createApplication').required, true);
  assert.equal(body('putApplication').required, true);
  assert.equal(body('patchApplication').required, false);
  assert.equal(body('createChat').required, false);
  assert.equal(body('createMessage').required, true);
  assert.equal(body('putMessage').required, true);
  assert.equal(body('patchMessage').required, false);
  const s = doc.components.schemas;
  assert.deepEqual([s.ApplicationInput.properties.name.minLength, s.ApplicationInput.properties.name.maxLength], [1, 255]);
  assert.equal(s.MessageInput.properties.body.minLength, 1);
});

// The routes table of API.md, where the contract is next to the
// repository (shared/API.md beside it, as on the developers' machines and
// in CI) or at $CHAT_API_MD.
const apiMd = [process.env.CHAT_API_MD, rel('..', 'shared', 'API.md'), '/work/shared/API.md']
  .find((p) => p && existsSync(p));

test('every route of API.md is in the document, and nothing else', { skip: apiMd ? false : 'API.md not found (set CHAT_API_MD)' }, () => {
  const md = readFileSync(apiMd, 'utf8');
  const section = md.split(/^## Routes$/m)[1].split(/^### /m)[0];
  const full = [];
  const want = new Set();
  for (const line of section.split('\n')) {
    const cell = line.match(/^\| (.+?) \|/)?.[1];
    if (!cell || /^method|^---/.test(cell)) continue;
    const methods = [...cell.matchAll(/`([A-Z]+)(?: ([^`]*))?`/g)];
    const path = methods.map((m) => m[2]).find(Boolean).split('?')[0];
    let resolved = path;
    if (path.startsWith('…')) {
      // "…/messages/{n}": the known path that ends in the first segment.
      const rest = path.slice(1);
      const first = rest.split('/')[1];
      const base = full.find((p) => p.endsWith(`/${first}`));
      assert.ok(base, `cannot resolve ${path}`);
      resolved = base + rest.slice(first.length + 1);
    }
    full.push(resolved);
    for (const m of methods) want.add(`${m[1]} ${normPath(resolved)}`);
  }
  // The 405s that API.md spells out (GET /applications, DELETE /applications/{token}).
  for (const m of md.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)`[^.]*?are 405/g)) want.add(`${m[1]} ${normPath(m[2])}`);
  for (const m of md.matchAll(/and `(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)` are 405/g)) want.add(`${m[1]} ${normPath(m[2])}`);
  const have = new Set(ops.map((o) => `${o.method} ${o.norm}`));
  const docsOnly = [...have].filter((x) => x.startsWith('GET /api-docs/'));
  assert.deepEqual([...have].filter((x) => !docsOnly.includes(x)).sort(), [...want].sort());
});

test('the error table of API.md matches the Error codes', { skip: apiMd ? false : 'API.md not found (set CHAT_API_MD)' }, () => {
  const md = readFileSync(apiMd, 'utf8');
  const codes = [...md.split(/^## Errors$/m)[1].split(/^## /m)[0].matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)];
  assert.ok(codes.length >= 7);
  const responses = Object.values(doc.components.responses);
  for (const [, status, code] of codes) {
    assert.ok(doc.components.schemas.Error.properties.error.enum.includes(code), code);
    assert.ok(responses.some((r) => r.content['application/json'].example?.error === code), `a ${status} response with ${code}`);
  }
});

test('the document is the one nginx serves (copied by make docs)', () => {
  assert.ok(existsSync(docPath));
  assert.ok(readFileSync(rel('nginx', 'api-docs', 'index.html'), 'utf8').includes('/api-docs/swagger-ui-bundle.js'));
  assert.ok(readFileSync(rel('nginx', 'api-docs', 'swagger-init.js'), 'utf8').includes("'/api-docs/openapi.json'"));
});
