// The benchmark's fake CometChat over TLS: POST /v3/users/{uid}/auth_tokens and POST /v3/users
// answer after a configurable latency; every NEW connection waits connectDelayMs before its TLS
// handshake starts (what a handshake to a distant CometChat edge costs). Kept-alive connections
// stay open 60 s, as behind a cloud load balancer.
//   node bench/upstream.js PORT CERT KEY LATENCY_MS CONNECT_DELAY_MS
// Control (same port, same TLS): POST /_bench/latency?ms=N, GET /_bench/stats.
'use strict';
const fs = require('fs');
const https = require('https');
const net = require('net');

const [port, certFile, keyFile, latencyArg, connectDelayArg] = process.argv.slice(2);
let latencyMs = Number(latencyArg);
const connectDelayMs = Number(connectDelayArg);
const LIMIT = 1000000; // far from spent: the server's budget stays on its fast path
const stats = { connections: 0, requests: 0, mints: 0 };
let windowStart = Date.now();
let windowCount = 0;

const tlsServer = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, handle);
tlsServer.keepAliveTimeout = 60000;
tlsServer.headersTimeout = 65000;

function answer(res, status, body) {
  const now = Date.now();
  if (now - windowStart >= 60000) { windowStart = now; windowCount = 0; }
  windowCount += 1;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'X-RateLimit-Limit': String(LIMIT),
    'X-RateLimit-Remaining': String(LIMIT - windowCount),
  });
  res.end(text);
}

function handle(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    stats.requests += 1;
    const url = new URL(req.url, 'https://upstream');
    if (url.pathname === '/_bench/latency') {
      latencyMs = Number(url.searchParams.get('ms'));
      return answer(res, 200, { latencyMs });
    }
    if (url.pathname === '/_bench/stats') return answer(res, 200, stats);
    if (req.headers.apikey === undefined) return answer(res, 401, { error: { code: 'AUTH_ERR_APIKEY_NOT_FOUND' } });
    const mint = url.pathname.match(/^\/v3\/users\/([^/]+)\/auth_tokens$/);
    const created = url.pathname === '/v3/users';
    if (req.method !== 'POST' || !(mint || created)) return answer(res, 404, { error: { code: 'ERR_NOT_FOUND' } });
    let uid;
    try {
      uid = mint ? decodeURIComponent(mint[1]) : JSON.parse(Buffer.concat(chunks).toString()).uid;
    } catch (e) {
      return answer(res, 400, { error: { code: 'ERR_BAD_REQUEST' } });
    }
    stats.mints += 1;
    const now = Math.floor(Date.now() / 1000);
    const token = `${uid}_${now}${Math.random().toString(16).slice(2)}`;
    const data = mint ? { uid, authToken: token, createdAt: now } : { uid, name: uid, authToken: token, createdAt: now };
    setTimeout(() => answer(res, 200, { data }), latencyMs);
  });
}

// The listening socket is plain TCP: each new connection is handed to TLS after the delay.
net.createServer((socket) => {
  stats.connections += 1;
  socket.pause();
  setTimeout(() => tlsServer.emit('connection', socket), connectDelayMs);
}).listen(Number(port), '127.0.0.1', 4096, () => console.log(`upstream listening on ${port}`));
