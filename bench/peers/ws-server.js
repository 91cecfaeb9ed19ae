// bench/peers/ws-server.js: the seed's semantics on Node.js and the npm `ws` server, as a peer
// for bench/run.sh. Usage: node ws-server.js PORT (listens on 127.0.0.1 only).
//
// Target not ending in /websocket: 400 with Content-Length: 0 and Content-Type: text/plain.
// /websocket without Upgrade: websocket: 426. Upgrade: every text message M gets
// `[Durable Object] message: M, connections: N`, a binary one `[object ArrayBuffer]` for M, with N
// the open sockets of the one object (all /websocket sockets share it).
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8787);
const host = '127.0.0.1';
const open = new Set();

function targetOf(req) {
  const hash = req.url.indexOf('#');
  return hash < 0 ? req.url : req.url.slice(0, hash);
}

const server = http.createServer((req, res) => {
  if (!targetOf(req).endsWith('/websocket')) {
    res.writeHead(400, { 'Content-Length': '0', 'Content-Type': 'text/plain' });
    res.end();
    return;
  }
  const body = 'Durable Object expected Upgrade: websocket';
  res.writeHead(426, { 'Content-Length': String(body.length), 'Content-Type': 'text/plain;charset=UTF-8' });
  res.end(body);
});
server.keepAliveTimeout = 60000;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false,
                                  maxPayload: 32 * 1024 * 1024 });

wss.on('connection', (ws) => {
  open.add(ws);
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? '[object ArrayBuffer]' : data.toString();
    ws.send(`[Durable Object] message: ${m}, connections: ${open.size}`);
  });
  ws.on('close', () => open.delete(ws));
  ws.on('error', () => open.delete(ws));
});

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (!targetOf(req).endsWith('/websocket')) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.listen(port, host, () => {
  process.stderr.write(`ws-server listen=${host}:${server.address().port}\n`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
