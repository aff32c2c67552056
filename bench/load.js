#!/usr/bin/env node
// A small keep-alive HTTP load generator, run as its own process so it never competes with the
// Python server for the GIL.
//
//   node bench/load.js spec.json
//
// spec.json:
//   {
//     "url": "http://127.0.0.1:PORT",      // origin of the server under test
//     "requests": "requests.jsonl",          // one {"method","path","headers","body"?} per line
//     "concurrency": 8,                      // sockets (http.Agent maxSockets) = in-flight requests
//     "count": 10000,                        // measured requests (or use "duration" in seconds)
//     "duration": null,
//     "warmup": 500,                         // requests sent first and not measured
//     "cycle": true,                         // reuse the request list; false = each line once
//     "offset": 0,                           // index of the first request to send
//     "headers": {"authorization": "..."}    // added to every request
//   }
//
// Request i (counting warm-up requests, from "offset") is line i % n of the list, so a list of
// distinct publish bodies with "cycle": false sends each body exactly once. Latency is measured per
// request, from http.request() to the response's last byte. Prints one JSON object on stdout.
'use strict';

const fs = require('fs');
const http = require('http');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const origin = new URL(spec.url);
const concurrency = spec.concurrency || 8;
const warmup = spec.warmup || 0;
const cycle = spec.cycle !== false;
const offset = spec.offset || 0;
const common = spec.headers || {};

const requests = fs
  .readFileSync(spec.requests, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0)
  .map((line) => {
    const r = JSON.parse(line);
    const headers = { ...common, ...(r.headers || {}) };
    let body = null;
    if (r.body !== undefined && r.body !== null) {
      body = Buffer.from(r.body, 'utf8');
      headers['content-type'] = headers['content-type'] || 'application/json';
      headers['content-length'] = String(body.length);
    }
    return { method: r.method || 'GET', path: r.path, headers, body };
  });
if (requests.length === 0) throw new Error('empty request list');

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function send(req) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const r = http.request(
      {
        host: origin.hostname,
        port: origin.port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent,
      },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk) => {
          bytes += chunk.length;
        });
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          resolve({ status: res.statusCode, ms, bytes });
        });
        res.on('error', (err) => resolve({ status: 'error:' + err.code, ms: 0, bytes: 0 }));
      },
    );
    r.on('error', (err) => resolve({ status: 'error:' + (err.code || err.message), ms: 0, bytes: 0 }));
    r.end(req.body === null ? undefined : req.body);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

async function main() {
  const limit = cycle ? Infinity : requests.length;
  let next = offset;

  // Warm-up: same concurrency, not measured.
  const warmEnd = Math.min(offset + warmup, limit);
  async function warmWorker() {
    while (next < warmEnd) {
      const i = next++;
      await send(requests[i % requests.length]);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, warmWorker));

  const measuredLimit = spec.count ? Math.min(limit, warmEnd + spec.count) : limit;
  const latencies = [];
  const statuses = {};
  let bytes = 0;
  const started = process.hrtime.bigint();
  const deadline = spec.duration ? started + BigInt(Math.round(spec.duration * 1e9)) : null;

  async function worker() {
    for (;;) {
      if (next >= measuredLimit) return;
      if (deadline !== null && process.hrtime.bigint() >= deadline) return;
      const i = next++;
      const res = await send(requests[i % requests.length]);
      latencies.push(res.ms);
      statuses[res.status] = (statuses[res.status] || 0) + 1;
      bytes += res.bytes;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();

  latencies.sort((a, b) => a - b);
  const total = latencies.reduce((a, b) => a + b, 0);
  process.stdout.write(
    JSON.stringify({
      count: latencies.length,
      elapsed_s: elapsed,
      rps: latencies.length / elapsed,
      latency_ms: {
        mean: latencies.length ? total / latencies.length : null,
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: latencies.length ? latencies[latencies.length - 1] : null,
      },
      statuses,
      response_bytes: bytes,
      concurrency,
    }) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
