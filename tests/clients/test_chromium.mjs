// tests/clients/test_chromium.mjs: duro against a real browser: Debian's Chromium, headless,
// driven by playwright-core (npm). A page served by a tiny loopback HTTP server started here opens
// a WebSocket to duro's /websocket (the seed), sends text and binary, checks the seed's replies,
// and closes with code 4000. The browser offers permessage-deflate: duro negotiates it (stateless),
// and a long message and its reply travel compressed.
//
// Run: DURO_GATEWAY=... DURO_WORKER=... node tests/clients/test_chromium.mjs
// Skips (exit 77, reason printed) when /usr/bin/chromium or playwright-core is missing; it never
// installs anything itself.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { SKIP, assert, assertEqual, runTest } from './duro.mjs';

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_TIMEOUT_MS = 30000;
const PAGE_TIMEOUT_MS = 15000;

if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP chromium: ${CHROMIUM} is not installed (Debian package 'chromium'); ` +
    'this test installs nothing itself');
  process.exit(SKIP);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.log(`SKIP chromium: the 'playwright-core' package is not installed ` +
    `(${e.code || e.message}); run \`npm ci\` in tests/clients`);
  process.exit(SKIP);
}

const SEED_REASON = 'Durable Object is closing WebSocket';

// The page: everything it observes goes into window.results; window.done flips when finished.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>duro chromium test</title></head>
<body><pre id="log"></pre><script>
window.results = { replies: [], errors: [] };
window.done = false;
const url = new URLSearchParams(location.search).get('ws');
const ws = new WebSocket(url);
ws.binaryType = 'arraybuffer';
const log = (s) => { document.getElementById('log').textContent += s + '\\n'; };
ws.onopen = () => {
  window.results.opened = true;
  window.results.extensions = ws.extensions;
  window.results.protocol = ws.protocol;
  ws.send('hello from chromium ☃');
  ws.send(new Uint8Array([1, 2, 3, 250]).buffer);
  ws.send('compressible '.repeat(5000));
};
ws.onmessage = (ev) => {
  window.results.replies.push(typeof ev.data === 'string' ? ev.data : '<binary>');
  log(String(ev.data));
  if (window.results.replies.length === 3) {
    ws.close(4000, 'bye from chromium');
  }
};
ws.onerror = () => { window.results.errors.push('error event'); };
ws.onclose = (ev) => {
  window.results.close = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
  window.done = true;
};
setTimeout(() => { window.results.errors.push('page timeout'); window.done = true; }, 10000);
</script></body></html>
`;

function startPageServer() {
  return new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      if (req.url.startsWith('/page.html')) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found');
      }
    });
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

const failures = await runTest('chromium: seed replies, permessage-deflate negotiated, close 4000',
  async (d) => {
    const srv = await startPageServer();
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'duro-chromium-'));
    let context = null;
    try {
      context = await chromium.launchPersistentContext(userDir, {
        executablePath: CHROMIUM,
        headless: true,
        timeout: LAUNCH_TIMEOUT_MS,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
          '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
      });
      const page = context.pages()[0] || await context.newPage();
      // The handshake as the browser saw it, from the DevTools protocol.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      const handshake = {};
      cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => {
        handshake.request = e.request.headers;
      });
      cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
        handshake.response = e.response;
      });
      const wsUrl = `ws://${d.host}:${d.port}/websocket`;
      const pageUrl = `http://127.0.0.1:${srv.address().port}/page.html?ws=${encodeURIComponent(wsUrl)}`;
      await page.goto(pageUrl, { timeout: PAGE_TIMEOUT_MS });
      await page.waitForFunction(() => window.done === true, null, { timeout: PAGE_TIMEOUT_MS });
      const r = await page.evaluate(() => window.results);

      assertEqual(JSON.stringify(r.errors), '[]', 'page errors');
      assert(r.opened, 'WebSocket opened');
      assertEqual(r.extensions,
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        'extensions negotiated');
      assertEqual(r.replies[0], '[Durable Object] message: hello from chromium ☃, connections: 1',
        'seed reply to text');
      assertEqual(r.replies[1], '[Durable Object] message: [object ArrayBuffer], connections: 1',
        'seed reply to binary');
      assertEqual(r.replies[2],
        `[Durable Object] message: ${'compressible '.repeat(5000)}, connections: 1`,
        'seed reply to a long message (compressed both ways)');
      assertEqual(r.close.code, 4000, 'close code');
      assertEqual(r.close.reason, SEED_REASON, 'close reason');
      assertEqual(r.close.wasClean, true, 'clean close');

      const offered = Object.entries(handshake.request || {})
        .filter(([k]) => k.toLowerCase() === 'sec-websocket-extensions').map(([, v]) => v);
      assert(offered.some((v) => v.includes('permessage-deflate')),
        `the browser offered permessage-deflate (request headers ${JSON.stringify(handshake.request)})`);
      const resp = handshake.response || {};
      assertEqual(resp.status, 101, 'handshake status');
      const answered = Object.keys(resp.headers || {})
        .filter((k) => k.toLowerCase() === 'sec-websocket-extensions');
      assertEqual(answered.length, 1, 'Sec-WebSocket-Extensions in the 101');
      assertEqual(resp.headers[answered[0]],
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        'the answer');
    } finally {
      if (context) {
        await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10000))]);
      }
      srv.close();
      // Chromium may still be writing its profile as it exits: retry instead of failing the test.
      fs.rmSync(userDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    }
  }, { timeoutMs: 90000 });

process.exit(failures ? 1 : 0);
