// (b) nginx routes the document to the right place: every operation of the
// document reaches, through nginx/chat-api.conf, the program whose route
// table has it (or the static /api-docs files), and every location of
// chat-api.conf serves some path of the document.  (That the document's
// routes and the route tables are the same set is openapi.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  cRoutes, docOperations, isNotAllowedOp, loadDoc, matchLocation, nginxLocations, rel, sampleUri,
} from './lib.mjs';

const doc = loadDoc();
const ops = docOperations(doc);
const routes = cRoutes();
const locs = nginxLocations();
const key = (method, norm) => `${method} ${norm}`;
const routeKeys = new Set(routes.map((r) => key(r.method, r.norm)));
const upstreamOf = (loc) => loc?.directives?.fastcgi_pass?.[0]?.[0];

test('the route tables of cgi-bin/*.c were found', () => {
  const programs = new Set(routes.map((r) => r.program));
  for (const p of ['applications', 'chats', 'messages', 'health']) assert.ok(programs.has(p), `cgi-bin/${p}.c`);
  assert.ok(routes.length >= 16, `${routes.length} routes`);
  for (const r of routes) assert.doesNotMatch(r.path, /undefined macro/, r.path);
});

test('every operation of the document is served by the program nginx sends it to', () => {
  const wrong = [];
  for (const o of ops) {
    const uri = sampleUri(o.path);
    const loc = matchLocation(locs, uri);
    if (!loc) { wrong.push(`${o.method} ${o.path}: no location of chat-api.conf matches ${uri}`); continue; }
    if (o.path.startsWith('/api-docs')) {
      const alias = loc.directives.alias?.[0]?.[0];
      if (!alias?.startsWith('@DOCS_DIR@')) wrong.push(`${o.method} ${o.path}: ${loc.modifier} ${loc.pattern} is not the docs alias`);
      const file = o.path === '/api-docs' ? 'index.html' : o.path.slice('/api-docs/'.length);
      if (!existsSync(rel('nginx', 'api-docs', file))) wrong.push(`${o.path}: nginx/api-docs/${file} missing`);
      continue;
    }
    const upstream = upstreamOf(loc);
    if (!upstream) { wrong.push(`${o.method} ${o.path}: location ${loc.modifier} ${loc.pattern} has no fastcgi_pass`); continue; }
    const program = upstream.replace(/^chat_/, '');
    const inTable = routes.filter((r) => r.program === program && r.norm === o.norm);
    if (isNotAllowedOp(o.op)) {
      // Documented 405: the program knows the path, not the method.
      if (!inTable.length) wrong.push(`${o.method} ${o.path}: cgi-bin/${program}.c does not know the path, so it would be 404, not 405`);
      if (routeKeys.has(key(o.method, o.norm))) wrong.push(`${o.method} ${o.path}: documented as 405 but routed`);
    } else if (!inTable.some((r) => r.method === o.method)) {
      wrong.push(`${o.method} ${o.path}: sent to ${upstream}, but cgi-bin/${program}.c has no such route`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('every location of chat-api.conf serves a path of the document', () => {
  const unused = [];
  const walk = (list) => {
    for (const l of list) {
      if (l.name) continue;
      if (l.children.length) walk(l.children);
      const serves = upstreamOf(l) || l.directives.alias;
      if (!serves) continue;
      const hit = ops.some((o) => matchLocation(locs, sampleUri(o.path)) === l);
      if (!hit) unused.push(`location ${l.modifier} ${l.pattern}`);
    }
  };
  walk(locs);
  assert.deepEqual(unused, []);
});

test('paths outside the contract get the JSON 404 of chat-api.conf', () => {
  const loc = matchLocation(locs, '/applications/x/y');
  assert.ok(loc.directives.return?.[0]?.[0] === '404', 'an unknown path under /applications is answered 404 by nginx');
});
