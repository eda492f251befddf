// The benchmark's load generator (node: it costs the 2 shared cores far less than Python would).
//   node bench/load.js '<json spec>'   -> prints one JSON line of results
// spec.mode:
//   "open":   spec.rate requests/s arrive on a fixed schedule for spec.seconds, whatever the
//             answers do (open loop); each latency counts from the request's scheduled time, so a
//             stalled server is charged for the queue it causes. spec.healthRate adds GET
//             /healthz checks on a new connection each (as a load balancer checks).
//   "closed": spec.callers loop for spec.warmSeconds + spec.seconds, each sending its next request
//             on its answer; the answers arriving in the last spec.seconds are counted.
//   "slow":   spec.sockets connections each trickle a request's headers one byte every
//             spec.intervalMs and never finish; a connection the server closes is reopened.
//             Prints {"ready": n} once all are open, then runs until SIGTERM.
// spec.warmSeconds: the same load first, on the same connections, not counted; then a
// {"warmed": true} line. spec.url, spec.method, spec.headers, spec.body, spec.ca (https), spec.uniqueUids (use {n}).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const net = require('net');

const spec = JSON.parse(process.argv[2]);
const TIMEOUT_MS = spec.timeoutMs || 30000;

function agentFor(url) {
  const secure = url.startsWith('https:');
  // An idle socket is dropped before its server would close it (gunicorn: 5 s, the fake
  // upstream: 60 s), as a load balancer does: a request never races a closing socket.
  const idleMs = secure ? 55000 : 4000;
  const options = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4096, timeout: idleMs };
  if (secure && spec.ca) options.ca = fs.readFileSync(spec.ca);
  return secure ? new https.Agent(options) : new http.Agent(options);
}

function send(agent, url, method, headers, body) {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    const req = lib.request(url, { method, agent, headers, timeout: TIMEOUT_MS }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body || undefined);
  });
}

function summary(latencies, statuses, seconds) {
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null);
  const ok = statuses['200'] || 0;
  return { count: latencies.length, ok, rps: ok / seconds, statuses, p50: pct(50), p90: pct(90), p99: pct(99), max: pct(100) };
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function record(into, started, status) {
  into.latencies.push(nowMs() - started);
  into.statuses[status] = (into.statuses[status] || 0) + 1;
}

function target(n) {
  return spec.url.replace('{n}', String(n));
}

async function openLoop(agent, seconds, healthRate) {
  const mints = { latencies: [], statuses: {} };
  const health = { latencies: [], statuses: {} };
  const total = Math.round(spec.rate * seconds);
  const healthTotal = Math.round(healthRate * seconds);
  const start = nowMs() + 20;
  const pending = [];
  let i = 0;
  let h = 0;
  await new Promise((done) => {
    function tick() {
      const now = nowMs();
      while (i < total && start + (i * 1000) / spec.rate <= now) {
        const due = start + (i * 1000) / spec.rate;
        pending.push(send(agent, target(i), spec.method, spec.headers, spec.body).then((s) => record(mints, due, s)));
        i += 1;
      }
      while (h < healthTotal && start + (h * 1000) / healthRate <= now) {
        const due = start + (h * 1000) / healthRate;
        pending.push(send(undefined, spec.healthUrl, 'GET', { Connection: 'close' }).then((s) => record(health, due, s)));
        h += 1;
      }
      if (i >= total && h >= healthTotal) return done();
      setTimeout(tick, 1);
    }
    tick();
  });
  await Promise.all(pending);
  const out = summary(mints.latencies, mints.statuses, seconds);
  out.offered = spec.rate;
  if (healthTotal) out.healthz = summary(health.latencies, health.statuses, seconds);
  return out;
}

// One loop for the warm-up and the measurement: restarting the callers after the warm-up
// would send all of them at once again, a burst no steady load has. An answer counts when it
// arrives inside the measured window (after onWarm), so the rate is answers per second there.
async function closedLoop(agent, warmSeconds, seconds, healthRate, onWarm) {
  const into = { latencies: [], statuses: {} };
  const health = { latencies: [], statuses: {} };
  const begin = nowMs();
  const start = begin + warmSeconds * 1000;
  const end = start + seconds * 1000;
  let n = 0;
  const warmed = new Promise((r) => setTimeout(r, Math.max(start - nowMs(), 0))).then(onWarm);
  async function caller() {
    while (nowMs() < end) {
      const started = nowMs();
      const status = await send(agent, target(n++), spec.method, spec.headers, spec.body);
      const now = nowMs();
      if (now >= start && now <= end) record(into, started, status);
    }
  }
  // spec.healthRate checks of spec.healthUrl on their own schedule beside the callers (a host's
  // own route while every caller waits upstream), each on a new connection.
  const checks = [];
  for (let h = 0; h < Math.round(healthRate * seconds); h++) {
    const due = start + (h * 1000) / healthRate;
    checks.push(new Promise((r) => setTimeout(r, Math.max(due - nowMs(), 0)))
      .then(() => send(undefined, spec.healthUrl, 'GET', { Connection: 'close' }))
      .then((s) => record(health, due, s)));
  }
  await Promise.all([...Array.from({ length: spec.callers }, caller), ...checks, warmed]);
  const out = summary(into.latencies, into.statuses, seconds);
  if (checks.length) out.healthz = summary(health.latencies, health.statuses, seconds);
  return out;
}

function slowClients() {
  const { hostname, port } = new URL(spec.url);
  const head = `POST /api/cometchat/token/slow HTTP/1.1\r\nHost: ${hostname}\r\nX-Trickle: `;
  const stats = { opened: 0, closedByServer: 0, bytes: 0 };
  let open = 0;
  let announced = false;
  function one() {
    const sock = net.connect({ host: hostname, port: Number(port) });
    let sent = 0;
    let timer = null;
    sock.on('connect', () => {
      stats.opened += 1;
      open += 1;
      if (!announced && open >= spec.sockets) { announced = true; console.log(JSON.stringify({ ready: open })); }
      timer = setInterval(() => {
        sock.write(sent < head.length ? head[sent] : 'a');
        sent += 1;
        stats.bytes += 1;
      }, spec.intervalMs);
      timer.unref();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (timer) { clearInterval(timer); open -= 1; stats.closedByServer += 1; }
      if (!stopping) setTimeout(one, 100);
    });
    sockets.push(sock);
  }
  let stopping = false;
  const sockets = [];
  // Spread the first bytes over one interval, so the sockets do not all write at once.
  for (let k = 0; k < spec.sockets; k++) setTimeout(one, (k * Math.min(spec.intervalMs, 2000)) / spec.sockets);
  process.on('SIGTERM', () => {
    stopping = true;
    console.log(JSON.stringify({ ...stats, openAtEnd: open }));
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

// spec.warmSeconds of the same load first, on the same connections, not counted.
async function measured() {
  const agent = agentFor(spec.url);
  const announce = () => console.log(JSON.stringify({ warmed: true }));
  if (spec.mode !== 'open') return closedLoop(agent, spec.warmSeconds || 0, spec.seconds, spec.healthRate || 0, announce);
  if (spec.warmSeconds) await openLoop(agent, spec.warmSeconds, 0);
  announce();
  return openLoop(agent, spec.seconds, spec.healthRate || 0);
}

if (spec.mode === 'slow') slowClients();
else measured().then((r) => console.log(JSON.stringify(r)));
