// (a) nginx/api-docs/openapi.json, the project's contract, is a valid
// OpenAPI 3 document (checked by @apidevtools/swagger-parser against the
// OpenAPI schema, $refs resolved), complete in itself (objects, errors,
// headers, parameters), and says what is served: its routes are exactly
// those of the route tables of cgi-bin/*.c (and the /api-docs files), and
// every error code the programs and nginx/chat-api.conf send is in it.
// Nothing here skips: a difference fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import {
  cRoutes, docOperations, docPath, isNotAllowedOp, loadDoc, read, rel,
} from './lib.mjs';

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

test('schemas Application, Chat, Message, Error have the fields of the contract', () => {
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
    ['bad_request', 'conflict', 'method_not_allowed', 'not_found', 'payload_too_large',
      'precondition_failed', 'service_unavailable', 'too_many_requests', 'validation_failed'],
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

test('ETag, If-Match, If-None-Match and Idempotency-Key are documented where they apply', () => {
  const h = doc.components.headers;
  assert.ok(h.ETag, 'header ETag');
  const params = (o) => (o.op.parameters ?? []).map(refName);
  const single = /^\/applications\/\{token\}(\/chats\/\{chat_number\}(\/messages\/\{message_number\})?)?$/;
  for (const o of opsOf((o) => single.test(o.path) && !isNotAllowedOp(o.op))) {
    const where = `${o.method} ${o.path}`;
    const ok = o.op.responses['200'] ?? responseOf(o, 204);
    if (o.method === 'GET') {
      assert.ok(o.op.responses['200'].headers?.ETag, `${where}: ETag on its 200`);
      assert.ok(params(o).includes('If-None-Match'), `${where}: If-None-Match`);
      assert.ok(params(o).includes('If-Match'), `${where}: If-Match`);
      assert.equal(responseOf(o, 412)?.content['application/json'].example.error, 'precondition_failed', `${where}: 412`);
      assert.ok(responseOf(o, 304)?.headers?.ETag, `${where}: 304 with its ETag`);
      assert.equal(responseOf(o, 304).content, undefined, `${where}: 304 has no body`);
    } else {
      if (o.method !== 'DELETE') assert.ok(ok.headers?.ETag, `${where}: ETag on its 200`);
      assert.ok(params(o).includes('If-Match'), `${where}: If-Match`);
      assert.ok(params(o).includes('If-None-Match'), `${where}: If-None-Match`);
      assert.equal(responseOf(o, 412)?.content['application/json'].example.error, 'precondition_failed', `${where}: 412`);
    }
  }
  assert.ok(opsOf((o) => o.op.operationId === 'createApplication')[0].op.responses['201'].headers.ETag, 'ETag on the 201');
  for (const o of opsOf((o) => o.method === 'POST' && /\/(chats|messages)$/.test(o.path))) {
    assert.ok(params(o).includes('Idempotency-Key'), `${o.method} ${o.path}: Idempotency-Key`);
    assert.equal(responseOf(o, 409)?.content['application/json'].example.error, 'conflict', `${o.method} ${o.path}: 409`);
    assert.ok(responseOf(o, 400), `${o.method} ${o.path}: 400 for a bad key`);
  }
  const key = doc.components.parameters['Idempotency-Key'];
  assert.deepEqual([key.in, key.schema.minLength, key.schema.maxLength], ['header', 1, 255]);
});

test('every operation documents the errors it can answer', () => {
  for (const o of ops) {
    if (isNotAllowedOp(o.op) || o.path.startsWith('/api-docs')) continue;
    const where = `${o.method} ${o.path}`;
    const has = (s) => Object.hasOwn(o.op.responses, String(s));
    assert.ok(has(503), `${where}: 503`);
    if (o.path.includes('{')) assert.ok(has(404), `${where}: 404`);
    // nginx limits every request with a token, and requests in progress per address.
    if (o.path.startsWith('/applications/{token}') || o.path === '/health') assert.ok(has(429), `${where}: 429`);
    if (o.op.requestBody) {
      assert.ok(has(400), `${where}: 400 (body not JSON or not an object)`);
      assert.ok(has(413), `${where}: 413 (body over 400 KiB)`);
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

test('request bodies: required where the contract requires one', () => {
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

// What is served: the route tables of cgi-bin/*.c, a documented 405 where
// a program knows the path but not the method, and the /api-docs files.
test('every route of the document is served, and every served route is in it', () => {
  const routes = cRoutes();
  assert.ok(routes.length >= 16, `route tables of cgi-bin/*.c: ${routes.length} routes found`);
  const served = new Set(routes.map((r) => `${r.method} ${r.norm}`));
  const paths = new Set(routes.map((r) => r.norm));
  const notServed = [];
  for (const o of ops) {
    const k = `${o.method} ${o.norm}`;
    if (o.path.startsWith('/api-docs')) {
      const file = o.path === '/api-docs' ? 'index.html' : o.path.slice('/api-docs/'.length);
      if (o.method !== 'GET' || !existsSync(rel('nginx', 'api-docs', file))) notServed.push(k);
    } else if (isNotAllowedOp(o.op)) {
      if (served.has(k) || !paths.has(o.norm)) notServed.push(`${k} (documented as 405)`);
    } else if (!served.has(k)) {
      notServed.push(k);
    }
  }
  const documented = new Set(ops.map((o) => `${o.method} ${o.norm}`));
  const undocumented = routes.filter((r) => !documented.has(`${r.method} ${r.norm}`))
    .map((r) => `${r.method} ${r.path} (cgi-bin/${r.program}.c)`);
  // Both lists at once: "notServed" are in the document only, "undocumented" served only.
  assert.deepEqual({ notServed, undocumented }, { notServed: [], undocumented: [] });
});

// Every "error" code sent, by the programs (chat_res_error in cgi-bin/ and
// lib/) and by nginx (chat-api.conf), is one of the document.
test('every error code sent is in the Error codes, with a documented response', () => {
  const sent = new Set();
  const dirs = ['lib', 'cgi-bin'];
  for (const dir of dirs) {
    for (const f of readdirSync(rel(dir)).filter((n) => n.endsWith('.c'))) {
      for (const m of read(dir, f).matchAll(/chat_res_error\(\s*\w+\s*,\s*(\d{3})\s*,\s*"([a-z_]+)"/g)) sent.add(`${m[1]} ${m[2]}`);
    }
  }
  for (const m of read('nginx', 'chat-api.conf').matchAll(/return\s+(\d{3})\s+'\{"error":"([a-z_]+)"/g)) sent.add(`${m[1]} ${m[2]}`);
  assert.ok(sent.size >= 7, `${sent.size} error codes found`);
  const codes = doc.components.schemas.Error.properties.error.enum;
  const responses = Object.values(doc.components.responses);
  for (const pair of sent) {
    const code = pair.split(' ')[1];
    assert.ok(codes.includes(code), `${pair}: not in the Error codes`);
    assert.ok(responses.some((r) => r.content?.['application/json']?.example?.error === code), `${pair}: no response documents it`);
  }
});

test('the document is the one nginx serves (copied by make docs)', () => {
  assert.ok(existsSync(docPath));
  assert.ok(readFileSync(rel('nginx', 'api-docs', 'index.html'), 'utf8').includes('/api-docs/swagger-ui-bundle.js'));
  assert.ok(readFileSync(rel('nginx', 'api-docs', 'swagger-init.js'), 'utf8').includes("'/api-docs/openapi.json'"));
});
