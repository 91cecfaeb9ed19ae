// tests/clients/test_node_ws.mjs: duro against Node's `ws` client (npm, tests/clients/package.json).
//
// Run: DURO_GATEWAY=... DURO_WORKER=... node tests/clients/test_node_ws.mjs
// Needs `npm ci` in tests/clients first; without node_modules it skips (exit 77) and says so.

import { SKIP, assert, assertEqual, runTest } from './duro.mjs';

let WebSocket;
try {
  ({ default: WebSocket } = await import('ws'));
} catch (e) {
  console.log(`SKIP node ws: the 'ws' package is not installed (${e.code || e.message}); ` +
    'run `npm ci` in tests/clients');
  process.exit(SKIP);
}

const SEED_REASON = 'Durable Object is closing WebSocket';

// A small promise-based client over ws: queued messages, open/close events, all bounded.
function client(url, opts = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000, ...opts });
  const queue = [];
  const waiters = [];
  let upgradeHeaders = null;
  let closed = null;
  ws.on('upgrade', (res) => { upgradeHeaders = res.headers; });
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    if (waiters.length) waiters.shift()(m); else queue.push(m);
  });
  const closedP = new Promise((resolve) => ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    resolve(closed);
  }));
  const openP = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const bounded = (p, ms, what) => Promise.race([p, new Promise((_, rej) =>
    setTimeout(() => rej(new Error(`timeout (${ms} ms) waiting for ${what}`)), ms))]);
  return {
    ws,
    open: () => bounded(openP, 5000, 'open'),
    next: (ms = 5000) => bounded(queue.length ? Promise.resolve(queue.shift())
      : new Promise((r) => waiters.push(r)), ms, 'a message'),
    closed: (ms = 5000) => bounded(closedP, ms, 'close'),
    headers: () => upgradeHeaders,
    isClosed: () => closed,
  };
}

let failures = 0;

failures += await runTest('node ws: echo text, binary, empty, unicode and 1 MiB', async (d) => {
  const c = client(`ws://${d.host}:${d.port}/echo`);
  await c.open();
  const texts = ['hello', '', 'héllo ☃ 𝄞 日本', 'x'.repeat(70000)];
  for (const t of texts) {
    c.ws.send(t);
    const m = await c.next();
    assert(!m.isBinary, 'text echoed as text');
    assertEqual(m.data.toString('utf8'), t, 'text echo');
  }
  const bins = [Buffer.from([0, 1, 255]), Buffer.alloc(0), Buffer.alloc(1 << 20, 7)];
  for (const b of bins) {
    c.ws.send(b);
    const m = await c.next();
    assert(m.isBinary, 'binary echoed as binary');
    assert(Buffer.compare(m.data, b) === 0, `binary echo of ${b.length} bytes`);
  }
  c.ws.close(1000, 'done');
  const cl = await c.closed();
  assertEqual(cl.code, 1000, 'close code echoed');
});

failures += await runTest('node ws: ping gets a pong with the same payload', async (d) => {
  const c = client(`ws://${d.host}:${d.port}/echo`);
  await c.open();
  const pong = new Promise((resolve) => c.ws.once('pong', resolve));
  c.ws.ping(Buffer.from('are you there'));
  const got = await Promise.race([pong, new Promise((_, rej) =>
    setTimeout(() => rej(new Error('no pong in 5 s')), 5000))]);
  assertEqual(got.toString(), 'are you there', 'pong payload');
  c.ws.close(1000);
  await c.closed();
});

failures += await runTest('node ws: seed replies, connection count, close 4000', async (d) => {
  const a = client(`ws://${d.host}:${d.port}/websocket`);
  await a.open();
  a.ws.send('hello');
  assertEqual((await a.next()).data.toString(), '[Durable Object] message: hello, connections: 1',
    'seed text reply');
  const b = client(`ws://${d.host}:${d.port}/some/path/websocket`);
  await b.open();
  b.ws.send(Buffer.from([1, 2, 3]));
  const m = await b.next();
  assert(!m.isBinary, 'seed replies to binary with text');
  assertEqual(m.data.toString(), '[Durable Object] message: [object ArrayBuffer], connections: 2',
    'seed binary reply');
  b.ws.close(4000, 'bye');
  const cl = await b.closed();
  assertEqual(cl.code, 4000, 'seed close code');
  assertEqual(cl.reason, SEED_REASON, 'seed close reason');
  a.ws.send('again');
  assertEqual((await a.next()).data.toString(), '[Durable Object] message: again, connections: 1',
    'count after a close');
  a.ws.close(1000);
  await a.closed();
});

failures += await runTest('node ws: permessage-deflate negotiated, 1 B to 1 MiB', async (d) => {
  const c = client(`ws://${d.host}:${d.port}/echo`, { perMessageDeflate: true });
  await c.open();
  const h = c.headers();
  assertEqual(h && h['sec-websocket-extensions'],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    'Sec-WebSocket-Extensions in the 101');
  assert(c.ws.extensions.includes('permessage-deflate'), `negotiated: ${c.ws.extensions}`);
  for (const size of [1, 63, 64, 1000, 4096, 65536, 1 << 20]) {
    const text = 'compress me '.repeat(Math.ceil(size / 12)).slice(0, size);
    c.ws.send(text);
    const m = await c.next(10000);
    assert(!m.isBinary, `text echo of ${size} B`);
    assertEqual(m.data.toString(), text, `text echo of ${size} B`);
    const bin = Buffer.alloc(size, size % 251);
    c.ws.send(bin);
    const mb = await c.next(10000);
    assert(mb.isBinary && mb.data.equals(bin), `binary echo of ${size} B`);
  }
  c.ws.close(1000);
  await c.closed();
});

failures += await runTest('node ws: without the offer, no extension', async (d) => {
  const c = client(`ws://${d.host}:${d.port}/echo`, { perMessageDeflate: false });
  await c.open();
  const h = c.headers();
  assert(h && !('sec-websocket-extensions' in h),
    `no Sec-WebSocket-Extensions in the 101 (got ${JSON.stringify(h)})`);
  c.ws.send('uncompressed '.repeat(100));
  assertEqual((await c.next()).data.toString(), 'uncompressed '.repeat(100), 'echo');
  c.ws.close(1000);
  await c.closed();
});

failures += await runTest('node ws: 32 MiB echoed, 32 MiB + 1 closed with 1009', async (d) => {
  const big = client(`ws://${d.host}:${d.port}/echo`, { maxPayload: 64 << 20 });
  await big.open();
  const payload = Buffer.alloc(32 << 20, 0x5a);
  big.ws.send(payload);
  const m = await big.next(30000);
  assert(m.isBinary && m.data.length === payload.length && m.data.equals(payload), '32 MiB echo');
  big.ws.close(1000);
  await big.closed();
  const over = client(`ws://${d.host}:${d.port}/echo`);
  await over.open();
  over.ws.send(Buffer.alloc((32 << 20) + 1, 0x5a));
  const cl = await over.closed(30000);
  assertEqual(cl.code, 1009, 'close code for a message over the limit');
});

process.exit(failures ? 1 : 0);
