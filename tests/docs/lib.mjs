// Shared helpers of the tests in tests/docs: where things are, the OpenAPI
// document, the route tables of cgi-bin/*.c and the locations of
// nginx/chat-api.conf.
import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const rel = (...p) => join(repo, ...p);
export const read = (...p) => readFileSync(rel(...p), 'utf8');

export const docPath = rel('nginx', 'api-docs', 'openapi.json');
export const loadDoc = () => JSON.parse(readFileSync(docPath, 'utf8'));

// Every token a test sees goes to the file CHAT_TEST_TOKENS names (set by
// tests/harness/run-tests.sh), which checks at the end of the run that no
// log of the stack holds any of them.
export function recordToken(token) {
  const file = process.env.CHAT_TEST_TOKENS;
  if (file && typeof token === 'string' && /^[A-Za-z0-9_-]{22,64}$/.test(token)) appendFileSync(file, `${token}\n`);
}

export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// Path templates compared without parameter names: /a/{token}/b/{n} -> /a/{}/b/{}.
export const normPath = (p) => p.replace(/\{[^}]*\}/g, '{}');

// Every operation of the document: { method: 'GET', path, norm, op }.
export function docOperations(doc) {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (item[m]) ops.push({ method: m.toUpperCase(), path, norm: normPath(path), op: item[m], item });
    }
  }
  return ops;
}

// An operation that only ever answers 405 (documents a method the contract
// rejects, such as GET /applications).
export const isNotAllowedOp = (op) => Object.keys(op.responses).every((s) => s === '405');

// The route tables of cgi-bin/*.c: rows { CHAT_GET, "/path", handler }, with
// string macros (#define NAME "/...") and literal concatenation resolved.
// Returns [{ program, method, path, norm }].
export function cRoutes() {
  const routes = [];
  for (const f of readdirSync(rel('cgi-bin')).filter((n) => n.endsWith('.c')).sort()) {
    const src = read('cgi-bin', f);
    const macros = {};
    for (const m of src.matchAll(/^#define\s+([A-Z_][A-Z0-9_]*)\s+((?:"[^"]*"\s*)+)$/gm)) {
      macros[m[1]] = [...m[2].matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('');
    }
    const table = src.match(/struct\s+chat_route\s+\w+\s*\[\s*\]\s*=\s*\{([\s\S]*?)\n\};/);
    if (!table) continue;
    for (const row of table[1].matchAll(/\{\s*CHAT_([A-Z]+)\s*,\s*([^,]+?)\s*,\s*\w+\s*\}/g)) {
      const parts = row[2].match(/"[^"]*"|[A-Z_][A-Z0-9_]*/g) || [];
      const path = parts
        .map((p) => (p.startsWith('"') ? p.slice(1, -1) : macros[p] ?? `<undefined macro ${p}>`))
        .join('');
      routes.push({ program: f.replace(/\.c$/, ''), method: row[1], path, norm: normPath(path) });
    }
  }
  return routes;
}

// nginx/chat-api.conf as the local stack serves it: with its @LIVE_INCLUDE@
// replaced by nginx/chat-live.conf (the live streams' internal location).
export const servedApiConf = () =>
  read('nginx', 'chat-api.conf').replace(/^[ \t]*@LIVE_INCLUDE@[ \t]*$/m, read('nginx', 'chat-live.conf'));

// nginx/chat-api.conf (as served) as a tree of locations: { modifier,
// pattern, name, directives: {name: [args...]}, children: [...] }.
export function nginxLocations(text = servedApiConf()) {
  const src = text.replace(/#[^\n]*/g, '');
  let i = 0;
  const token = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
    if (i >= src.length) return null;
    const c = src[i];
    if (c === '{' || c === '}' || c === ';') { i++; return c; }
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      const t = src.slice(i + 1, j);
      i = j + 1;
      return { word: t };
    }
    let j = i;
    while (j < src.length && !/[\s{};]/.test(src[j])) j++;
    const t = src.slice(i, j);
    i = j;
    return { word: t };
  };
  const block = () => {
    const out = { directives: {}, children: [] };
    for (;;) {
      const words = [];
      let t;
      while ((t = token()) && typeof t === 'object') words.push(t.word);
      if (t === null || t === '}') return out;
      if (t === ';') {
        if (words.length) (out.directives[words[0]] ??= []).push(words.slice(1));
      } else if (t === '{') {
        const inner = block();
        if (words[0] === 'location') {
          const args = words.slice(1);
          const loc = args.length === 2
            ? { modifier: args[0], pattern: args[1] }
            : { modifier: '', pattern: args[0] };
          if (loc.pattern.startsWith('@')) loc.name = loc.pattern;
          out.children.push({ ...loc, ...inner });
        }
      }
    }
  };
  return block().children;
}

// Which location nginx picks for `uri` among `locs` (exact, then the longest
// prefix; ^~ stops the regex search; regexes in order), descending into
// nested locations the way nginx does.
export function matchLocation(locs, uri) {
  const real = locs.filter((l) => !l.name);
  const exact = real.find((l) => l.modifier === '=' && l.pattern === uri);
  if (exact) return exact;
  let best = null;
  for (const l of real) {
    if ((l.modifier === '' || l.modifier === '^~') && uri.startsWith(l.pattern)) {
      if (!best || l.pattern.length > best.pattern.length) best = l;
    }
  }
  const descend = (l) => (l.children.length ? matchLocation(l.children, uri) ?? l : l);
  if (best && best.modifier === '^~') return descend(best);
  for (const l of real) {
    if (l.modifier === '~' && new RegExp(l.pattern).test(uri)) return descend(l);
    if (l.modifier === '~*' && new RegExp(l.pattern, 'i').test(uri)) return descend(l);
  }
  return best ? descend(best) : null;
}

// A concrete URI for a path template: a valid token and number 1.
export const sampleUri = (path) =>
  path.replace(/\{token\}/g, 'AbCdEfGhIjKlMnOpQrStUv').replace(/\{[^}]*\}/g, '1');
