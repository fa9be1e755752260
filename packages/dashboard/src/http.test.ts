import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, DEFAULT_DIST_DIR, WORKER_CONTENT_SECURITY_POLICY, WORKER_PAGE_PATHS, createDashboardRequestHandler } from './http.js';
import type { History } from './history-export.js';
import { fixtureHistory, stepRecord } from './testing/history-fixture.js';
import { fetchRaw, serve } from './testing/raw-http.js';

describe('createDashboardRequestHandler', () => {
  const dist = mkdtempSync(join(tmpdir(), 'convoy-dashboard-dist-'));
  let port = 0;
  let server: Server;
  let missingPort = 0;
  let missingServer: Server;

  beforeAll(async () => {
    writeFileSync(join(dist, 'index.html'), '<!doctype html><p>page</p>');
    writeFileSync(join(dist, 'dashboard.js'), 'console.log(1)');
    writeFileSync(join(dist, 'dashboard.css'), 'body{}');
    writeFileSync(join(dist, 'favicon.svg'), '<svg/>');
    writeFileSync(join(dist, 'secret.txt'), 'not served');
    writeFileSync(join(dist, 'worker.html'), '<!doctype html><p>worker</p>');
    writeFileSync(join(dist, 'compute-worker.js'), 'postMessage(1)');
    writeFileSync(join(dist, 'kernels-simd.wasm'), Uint8Array.from([0, 0x61, 0x73, 0x6d]));
    ({ server, port } = await serve(createDashboardRequestHandler({ distDir: dist, history: () => fixtureHistory(12) })));
    ({ server: missingServer, port: missingPort } = await serve(createDashboardRequestHandler({ distDir: join(dist, 'nothing-here') })));
  });
  afterAll(() => {
    server.close();
    missingServer.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it('serves the page, script, styles and icon with their content types and a strict CSP', async () => {
    const cases: [string, string, string][] = [
      ['/', 'text/html; charset=utf-8', '<!doctype html><p>page</p>'],
      ['/index.html?token=x', 'text/html; charset=utf-8', '<!doctype html><p>page</p>'],
      ['/dashboard.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
      ['/dashboard.css', 'text/css; charset=utf-8', 'body{}'],
      ['/favicon.svg', 'image/svg+xml', '<svg/>'],
    ];
    for (const [path, type, body] of cases) {
      const answer = await fetchRaw(port, path);
      expect([path, answer.status, answer.headers['content-type'], answer.body]).toEqual([path, 200, type, body]);
      expect(answer.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves the browser worker page and its Web Worker with a CSP that allows WebAssembly and nothing more, and names them open', async () => {
    const cases: [string, string, string][] = [
      ['/worker', 'text/html; charset=utf-8', '<!doctype html><p>worker</p>'],
      ['/compute-worker.js', 'text/javascript; charset=utf-8', 'postMessage(1)'],
      ['/kernels-simd.wasm', 'application/wasm', '\0asm'],
    ];
    for (const [path, type, body] of cases) {
      const answer = await fetchRaw(port, path);
      expect([path, answer.status, answer.headers['content-type'], answer.body]).toEqual([path, 200, type, body]);
      expect(answer.headers['content-security-policy']).toBe(WORKER_CONTENT_SECURITY_POLICY);
    }
    expect(WORKER_CONTENT_SECURITY_POLICY).toBe(CONTENT_SECURITY_POLICY.replace("script-src 'self';", "script-src 'self' 'wasm-unsafe-eval';"));
    expect([...createDashboardRequestHandler({ distDir: dist }).openPaths].sort()).toEqual([...WORKER_PAGE_PATHS].sort());
    expect([...WORKER_PAGE_PATHS].sort()).toEqual(['/compute-worker.js', '/kernels-relaxed.wasm', '/kernels-simd.wasm', '/worker', '/worker.js']);
  });

  it('answers nothing else: other paths and traversal attempts fall through to the server', async () => {
    for (const path of ['/secret.txt', '/../secret.txt', '/%2e%2e/secret.txt', '/dashboard.js/../secret.txt', '/..%2fsecret.txt', '//etc/passwd', '/health']) {
      const answer = await fetchRaw(port, path);
      expect([path, answer.status, answer.body]).toEqual([path, 404, 'fallback\n']);
    }
  });

  it('is read-only: POST gets 405; HEAD gets headers without a body', async () => {
    const post = await fetchRaw(port, '/', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    const head = await fetchRaw(port, '/dashboard.js', 'HEAD');
    expect([head.status, head.headers['content-length'], head.body]).toEqual([200, '14', '']);
  });

  it('downloads the full history as CSV and JSON attachments', async () => {
    const csv = await fetchRaw(port, '/history.csv');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="convoy-history-fixture-run.csv"');
    expect(csv.body.split('\r\n').filter((line) => line.startsWith('step,')).length).toBe(12);
    const json = await fetchRaw(port, '/history.json');
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect((JSON.parse(json.body) as { steps: unknown[] }).steps.length).toBe(12);
  });

  it('says how to build the page when dist/ is missing; no history without a provider', async () => {
    const page = await fetchRaw(missingPort, '/');
    expect(page.status).toBe(503);
    expect(page.body).toMatch(/not built .*run pnpm build/);
    expect((await fetchRaw(missingPort, '/history.csv')).status).toBe(404);
  });

  it('the built page (pnpm build) loads nothing from another origin', () => {
    const html = readFileSync(join(DEFAULT_DIST_DIR, 'index.html'), 'utf8');
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    // '/runs' (the runs folder's list) is a link on the same origin.
    expect(references.sort()).toEqual(['/runs', '/worker', 'dashboard.css', 'dashboard.js', 'favicon.svg', 'history.csv', 'history.json']);
    const workerHtml = readFileSync(join(DEFAULT_DIST_DIR, 'worker.html'), 'utf8');
    const workerReferences = [...workerHtml.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(workerReferences.sort()).toEqual(['/', 'dashboard.css', 'favicon.svg', 'worker.js']);
    const css = readFileSync(join(DEFAULT_DIST_DIR, 'dashboard.css'), 'utf8');
    expect(css).not.toMatch(/@import|url\(\s*['"]?(?:https?:)?\/\//);
  });

  it('20 parallel /history.json requests of a 25,600-step live run share one build, and one read of the whole history', async () => {
    let history: History = fixtureHistory(25_600, 1_000);
    const builds: number[] = [];
    let wholeReads = 0;
    const live = await serve(
      createDashboardRequestHandler({ distDir: dist, history: () => (wholeReads++, history), liveHistory: () => history, onBuild: (_path, ms) => builds.push(ms) }),
    );
    // The run goes on while the requests are served: a step every millisecond.
    let step = 25_600;
    const training = setInterval(() => (history = { ...history, steps: [...history.steps, stepRecord(++step, 1_000)] }), 1);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetchRaw(live.port, '/history.json')));
      const stepsServed = answers.map((answer) => (JSON.parse(answer.body) as { steps: unknown[] }).steps.length);
      expect(Math.min(...stepsServed)).toBeGreaterThanOrEqual(25_600);
      expect(builds.length, `builds took ${builds.map((ms) => ms.toFixed(0)).join(', ')} ms`).toBe(1);
      expect(wholeReads).toBe(1);
    } finally {
      clearInterval(training);
      live.server.close();
    }
  });
});

