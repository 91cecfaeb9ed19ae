// bench/peers/bun-server.js: the seed's semantics on Bun.serve (uWebSockets inside), as a peer
// for bench/run.sh. Usage: bun bun-server.js PORT (listens on 127.0.0.1 only).
//
// Target not ending in /websocket: 400 with Content-Length: 0 and Content-Type: text/plain.
// /websocket without Upgrade: websocket: 426. Upgrade: every text message M gets
// `[Durable Object] message: M, connections: N`, a binary one `[object ArrayBuffer]` for M, with N
// the open sockets of the one object (all /websocket sockets share it).
const port = Number(process.argv[2] || 8787);
const hostname = '127.0.0.1';
let count = 0;

function targetOf(url) {
  // req.url is absolute: keep path and query, as the seed routes on the raw request-target.
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const hash = url.indexOf('#');
  return url.slice(start < 0 ? url.length : start, hash < 0 ? url.length : hash);
}

const server = Bun.serve({
  hostname,
  port,
  fetch(req, srv) {
    if (!targetOf(req.url).endsWith('/websocket')) {
      return new Response(null, { status: 400, headers: { 'Content-Type': 'text/plain' } });
    }
    if (req.headers.get('upgrade') !== 'websocket') {
      return new Response('Durable Object expected Upgrade: websocket', {
        status: 426,
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      });
    }
    if (srv.upgrade(req)) {
      return undefined;
    }
    return new Response('Bad Request', { status: 400, headers: { 'Content-Type': 'text/plain' } });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 32 * 1024 * 1024,
    open() {
      count++;
    },
    message(ws, msg) {
      const m = typeof msg === 'string' ? msg : '[object ArrayBuffer]';
      ws.send(`[Durable Object] message: ${m}, connections: ${count}`);
    },
    close() {
      count--;
    },
  },
});

process.stderr.write(`bun-server listen=${hostname}:${server.port}\n`);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
