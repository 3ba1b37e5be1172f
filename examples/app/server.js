'use strict';
/*
 * The demo app rollgate releases. No dependencies.
 *
 *   HOST, PORT        where to listen (default 127.0.0.1:8080)
 *   VERSION           env, else the VERSION file in the working directory
 *   START_DELAY_MS    env, else the file start-delay-ms, else 300: time before it listens
 *   BROKEN (file)     /health answers 500; if the file contains "exit", the app exits at start;
 *                     "hosts <address> ..." limits the fault to those HOST values (a host-specific fault)
 *
 *   GET /health       200 {"status":"ok","version":...}
 *   GET /version      the version
 *   GET /             "hello from <version>" (or 500 for the share set by POST /errrate?r=0.3)
 *   GET /metrics      Prometheus text: http_requests_total{code,version} and
 *                     http_request_duration_seconds{version}; /health and /metrics are not counted
 */
// CommonJS on purpose: a release directory has no package.json, and Node 20 needs one for ESM.
/* global require */
/* eslint-disable @typescript-eslint/no-require-imports */
const http = require('node:http');
const fs = require('node:fs');

function readText(name) {
  try {
    return fs.readFileSync(name, 'utf8').trim();
  } catch {
    return null;
  }
}

const version = process.env.VERSION || readText('VERSION') || 'unknown';
const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8080);
const startDelayMs = Number(process.env.START_DELAY_MS || readText('start-delay-ms') || 300);
const broken = brokenHere(readText('BROKEN'));

function brokenHere(text) {
  if (text === null) return null;
  const hosts = /^hosts\s+([\s\S]*)$/.exec(text);
  if (hosts) return hosts[1].split(/\s+/).includes(host) ? 'broken' : null;
  return text;
}

if (broken !== null && broken.includes('exit')) {
  console.error(`version ${version} is broken: exiting`);
  process.exit(1);
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const requestsByCode = new Map();
const durations = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
let errorRate = 0;
// Accumulates the error rate so that exactly that share of requests fails, with no randomness.
let errorDebt = 0;

function label(value) {
  return String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function observe(code, seconds) {
  requestsByCode.set(code, (requestsByCode.get(code) || 0) + 1);
  BUCKETS.forEach((le, i) => {
    if (seconds <= le) durations.counts[i] += 1;
  });
  durations.sum += seconds;
  durations.count += 1;
}

function metrics() {
  const v = `version="${label(version)}"`;
  const lines = [
    '# HELP http_requests_total Requests answered, by status code and version.',
    '# TYPE http_requests_total counter',
  ];
  for (const [code, count] of [...requestsByCode].sort((a, b) => a[0] - b[0])) {
    lines.push(`http_requests_total{code="${code}",${v}} ${count}`);
  }
  lines.push(
    '# HELP http_request_duration_seconds Time to answer a request, by version.',
    '# TYPE http_request_duration_seconds histogram',
  );
  BUCKETS.forEach((le, i) => {
    lines.push(`http_request_duration_seconds_bucket{${v},le="${le}"} ${durations.counts[i]}`);
  });
  lines.push(
    `http_request_duration_seconds_bucket{${v},le="+Inf"} ${durations.count}`,
    `http_request_duration_seconds_sum{${v}} ${durations.sum}`,
    `http_request_duration_seconds_count{${v}} ${durations.count}`,
  );
  return `${lines.join('\n')}\n`;
}

function send(res, code, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(code, { 'content-type': type });
  res.end(body);
}

function handle(req, res) {
  const url = new URL(req.url, 'http://app');
  const route = `${req.method} ${url.pathname}`;
  if (route === 'GET /health') {
    const status = broken === null ? 'ok' : 'broken';
    return send(
      res,
      broken === null ? 200 : 500,
      JSON.stringify({ status, version }),
      'application/json',
    );
  }
  if (route === 'GET /metrics') {
    return send(res, 200, metrics(), 'text/plain; version=0.0.4; charset=utf-8');
  }

  const started = process.hrtime.bigint();
  res.on('finish', () => observe(res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
  if (route === 'GET /version') return send(res, 200, `${version}\n`);
  if (route === 'GET /') {
    errorDebt += errorRate;
    if (errorDebt >= 1 - 1e-9) {
      errorDebt -= 1;
      return send(res, 500, `error from ${version}\n`);
    }
    return send(res, 200, `hello from ${version}\n`);
  }
  if (route === 'POST /errrate') {
    const rate = Number(url.searchParams.get('r'));
    if (url.searchParams.get('r') === null || !(rate >= 0 && rate <= 1)) {
      return send(res, 400, 'r must be a number from 0 to 1\n');
    }
    errorRate = rate;
    errorDebt = 0;
    return send(res, 200, `error rate ${rate}\n`);
  }
  return send(res, 404, 'not found\n');
}

const server = http.createServer(handle);
server.on('error', (error) => {
  console.error(`version ${version}: ${error.message}`);
  process.exit(1);
});

const startTimer = setTimeout(() => {
  server.listen(port, host, () => console.log(`version ${version} listening on ${host}:${port}`));
}, startDelayMs);

function shutdown(signal) {
  console.log(`version ${version}: ${signal}, closing`);
  clearTimeout(startTimer);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
