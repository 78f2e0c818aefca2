// (c) /api-docs in a real browser: headless Chromium (Debian's, driven by
// playwright-core) opens Swagger UI on a running stack, finds every
// operation of the document listed, runs "Try it out" on POST /applications
// and sees the 201; and an EventSource on a chat's live stream sees a
// message created through the API appear.  Screenshots go to
// $CHAT_VAR/screenshots/ (var/ by default): api-docs.png (the page as it
// opens) and api-docs-try-it-out.png.
//
// The stack: http://127.0.0.1:$CHAT_HTTP_PORT (8080 by default), or
// CHAT_DOCS_BASE_URL.  The browser: $CHROMIUM (default /usr/bin/chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { docOperations, loadDoc, recordToken, rel } from './lib.mjs';

const base = process.env.CHAT_DOCS_BASE_URL || `http://127.0.0.1:${process.env.CHAT_HTTP_PORT || 8080}`;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = join(process.env.CHAT_VAR || rel('var'), 'screenshots');
const doc = loadDoc();

// Headless Chromium with a profile of its own, closed and removed when
// test t ends; `options` are added to playwright's launch options.
async function launchChromium(t, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'chat-docs-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options,
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

test('Swagger UI at /api-docs lists every operation and runs POST /applications', { timeout: 120000 }, async (t) => {
  assert.ok(existsSync(executablePath), `${executablePath} is missing: apt-get install chromium (or set CHROMIUM)`);
  const probe = await fetch(`${base}/api-docs/openapi.json`).catch((e) => e);
  assert.ok(probe instanceof Response, `no stack at ${base} (${probe.message ?? probe}): start one (make start) or set CHAT_HTTP_PORT`);
  assert.equal(probe.status, 200, `GET ${base}/api-docs/openapi.json`);
  assert.deepEqual(await probe.json(), doc, 'the stack serves this openapi.json (run make docs)');

  const context = await launchChromium(t, { viewport: { width: 1280, height: 900 } });
  const page = context.pages()[0] ?? await context.newPage();
  const outside = [];
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) outside.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // What the page's Content-Security-Policy blocks shows on the console.
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });

  const res = await page.goto(`${base}/api-docs`, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'], /^text\/html/);
  const csp = res.headers()['content-security-policy'] ?? '';
  assert.match(csp, /frame-ancestors 'none'/, 'Swagger UI may not be framed');
  assert.match(csp, /default-src 'none'/);
  await page.waitForSelector('.opblock', { timeout: 30000 });
  await assert.doesNotReject(page.waitForSelector('.info .title', { timeout: 5000 }));
  assert.match(await page.textContent('.info .title'), /Chat API/);

  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, 'api-docs.png') });

  // Every operation of the document, by method and path.
  const listed = await page.$$eval('.opblock', (els) => els.map((el) => {
    const method = el.querySelector('.opblock-summary-method')?.textContent.trim();
    const pathEl = el.querySelector('.opblock-summary-path');
    const path = pathEl?.getAttribute('data-path') ?? pathEl?.textContent.trim().replace(/\u200b/g, '');
    return `${method} ${path}`;
  }));
  const want = docOperations(doc).map((o) => `${o.method} ${o.path}`);
  assert.deepEqual([...listed].sort(), [...want].sort());

  // Try it out: POST /applications with a name.
  const op = page.locator('#operations-applications-createApplication');
  await op.locator('.opblock-summary').first().click();
  await op.locator('button.try-out__btn').click();
  const name = `Swagger UI test ${Date.now()}`;
  await op.locator('textarea.body-param__text').fill(JSON.stringify({ name }));
  const responsePromise = page.waitForResponse((r) => r.url() === `${base}/applications` && r.request().method() === 'POST');
  await op.locator('button.execute').click();
  const api = await responsePromise;
  assert.equal(api.status(), 201, `POST /applications answered ${api.status()}: ${await api.text()}`);
  recordToken((await api.json()).token);
  assert.equal(api.headers()['cache-control'], 'no-store', 'an answer with a token is not cached');
  const status = op.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout: 10000 });
  assert.equal((await status.textContent()).trim(), '201');
  const body = await op.locator('.live-responses-table .response-col_description .microlight, .live-responses-table .response-col_description pre').first().textContent();
  assert.match(body, new RegExp(`"name": "${name}"`));
  assert.match(body, /"token": "[A-Za-z0-9_-]{22,64}"/);

  await op.locator('.live-responses-table').first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, 'api-docs-try-it-out.png') });
  t.diagnostic(`screenshots in ${shots}: api-docs.png, api-docs-try-it-out.png`);

  assert.deepEqual(outside, [], 'the page loads nothing from elsewhere');
  assert.deepEqual(errors, [], 'no JavaScript errors');
});

test('an EventSource in Chromium sees a message created through the API appear', { timeout: 120000 }, async (t) => {
  assert.ok(existsSync(executablePath), `${executablePath} is missing: apt-get install chromium (or set CHROMIUM)`);
  const api = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, json: r.status === 204 ? null : await r.json() };
  };
  const app = await api('POST', '/applications', { name: `EventSource test ${Date.now()}` });
  assert.equal(app.status, 201);
  const { token } = app.json;
  recordToken(token);
  const chat = await api('POST', `/applications/${token}/chats`);
  assert.equal(chat.status, 202);
  const n = chat.json.number;
  // The stream exists once the chat is persisted.
  for (let i = 0; i < 200; i++) {
    if ((await api('GET', `/applications/${token}/chats/${n}`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const context = await launchChromium(t);
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // A page of the API's origin, so that the stream is same-origin.
  await page.goto(`${base}/api-docs`, { waitUntil: 'load' });
  const body = `Hello from the API ${Date.now()}`;
  const seen = await page.evaluate(async ({ token, n, body }) => {
    const path = `/applications/${token}/chats/${n}/messages`;
    const live = new EventSource(`${path}/live`);
    try {
      await new Promise((resolve, reject) => {
        live.onopen = resolve;
        setTimeout(() => reject(new Error(`EventSource not open (readyState ${live.readyState})`)), 10000);
      });
      const event = new Promise((resolve, reject) => {
        live.addEventListener('message.created', (e) => resolve({ type: e.type, id: e.lastEventId, data: JSON.parse(e.data) }));
        setTimeout(() => reject(new Error('no message.created within 15 s')), 15000);
      });
      const r = await fetch(path, { method: 'POST', body: JSON.stringify({ body }) });
      if (r.status !== 202) throw new Error(`POST ${path}: ${r.status}`);
      return await event;
    } finally {
      live.close();
    }
  }, { token, n, body });
  assert.equal(seen.type, 'message.created');
  assert.ok(seen.id, 'the event has an id');
  assert.equal(seen.data.event, 'message.created');
  assert.equal(seen.data.message.number, 1);
  assert.equal(seen.data.message.body, body);
  assert.deepEqual(errors, [], 'no JavaScript errors');
});
