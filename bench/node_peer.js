// The docs' Node example as the benchmark's peer: mint a token upstream over https with a
// keep-alive agent, answer {uid, authToken}. No caller auth, no validation, no limits.
//   node bench/node_peer.js PORT UPSTREAM_BASE_URL REST_KEY CA_FILE
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');

const [port, base, restKey, caFile] = process.argv.slice(2);
const agent = new https.Agent({ keepAlive: true, maxSockets: Infinity, ca: fs.readFileSync(caFile) });

http.createServer((req, res) => {
  const uid = decodeURIComponent(req.url.split('/').pop());
  const up = https.request(`${base}/users/${encodeURIComponent(uid)}/auth_tokens`, {
    method: 'POST', agent, headers: { apikey: restKey, 'Content-Type': 'application/json' },
  }, (answer) => {
    const chunks = [];
    answer.on('data', (c) => chunks.push(c));
    answer.on('end', () => {
      const data = JSON.parse(Buffer.concat(chunks).toString()).data;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ uid: data.uid, authToken: data.authToken }));
    });
  });
  up.on('error', () => { res.writeHead(502); res.end(); });
  up.end('{"force":true}');
}).listen(Number(port), '127.0.0.1', () => console.log(`peer listening on ${port}`));
