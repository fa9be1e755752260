/**
 * Who may read what over HTTP (issue 18, finding 2), and which WebSocket upgrades are let in
 * (finding 1 without a browser; tests/hardening/web-origin.test.ts does it with one):
 * - with a token, every route but /health needs it: ?token=, Authorization: Bearer, or the
 *   cookie the coordinator sets when the token came either way; the page's socket admits a
 *   `subscribe` without a token when its upgrade carries that cookie;
 * - /health answers anyone, and says only that the coordinator is up;
 * - a loopback coordinator refuses requests addressed to another host name (DNS rebinding),
 *   and upgrades whose Origin is not its own.
 * A real coordinator process, raw requests.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, FROM_COORDINATOR_TO_DASHBOARD, PROTOCOL_VERSION, decodeMessage, encodeMessage } from '../../packages/core/src/index.js';
import { WebSocket, smallRunArgs, until, writeSpec } from '../distributed/helpers.js';
import { startCoordinator, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('http-token');
const runs = join(dir, 'runs');
const TOKEN = 'http-token-secret';
let guarded: Proc & { port: number; url: string };
let open: Proc & { port: number; url: string };

beforeAll(async () => {
  // A past run beside the current one, for /runs/NAME/.
  mkdirSync(join(runs, 'older'), { recursive: true });
  const spec = writeSpec(dir);
  // NOTE: --min-workers 5: both wait for workers, so their history is the run record only.
  [guarded, open] = await Promise.all([
    startCoordinator([...smallRunArgs(spec, join(runs, 'current')), '--min-workers', '5'], { env: { CONVOY_TOKEN: TOKEN } }),
    startCoordinator([...smallRunArgs(spec, join(dir, 'open-runs', 'current')), '--min-workers', '5']),
  ]);
  await until(() => readFileSync(join(runs, 'current', 'history.jsonl'), 'utf8').includes('"kind":"run"'), 10_000, 'the run record');
  writeFileSync(join(runs, 'older', 'history.jsonl'), readFileSync(join(runs, 'current', 'history.jsonl')));
}, 60_000);
afterAll(() => [guarded, open].forEach((proc) => proc?.child.kill('SIGKILL')));

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One raw GET (no fetch: it would not let a test set Host). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** Opens a socket with `headers` on the upgrade; resolves with its first frame decoded, or the refusal's status. */
function upgrade(port: number, headers: Record<string, string>, first: Record<string, unknown>): Promise<{ status: number; type?: string; code?: string }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { headers });
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('error', () => resolve({ status: -1 }));
    socket.once('open', () => socket.send(encodeMessage(first as never)));
    socket.once('message', (data: Buffer) => {
      const message = decodeMessage(data, { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_DASHBOARD });
      resolve({ status: 101, type: message.type, ...(message.type === 'error' ? { code: message.code } : {}) });
      socket.close();
    });
  });
}

const ROUTES = ['/', '/index.html', '/dashboard.js', '/history.json', '/history.csv', '/history.svg', '/runs', '/runs/older/', '/runs/older/history.json', '/nothing-here'];

describe('HTTP routes with a token', () => {
  it.each(ROUTES)('%s: 401 without the token, never the history; 200 with it (query or Bearer)', async (path) => {
    const refused = await get(guarded.port, path);
    expect(refused.status).toBe(401);
    expect(refused.body).not.toContain(runs);
    expect(refused.body).not.toContain('"kind"');
    expect((await get(guarded.port, path, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(guarded.port, `${path}?token=wrong`)).status).toBe(401);
    expect((await get(guarded.port, `${path}?token=${TOKEN}`)).status).toBe(200);
    expect((await get(guarded.port, path, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('the page opened with ?token= gets an HttpOnly SameSite=Strict cookie; with it alone the script, downloads and /runs load, and its socket subscribes without a token', async () => {
    const page = await get(guarded.port, `/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    const setCookie = page.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toMatch(new RegExp(`^convoy-token-${guarded.port}=`));
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    for (const path of ['/dashboard.js', '/history.json', '/history.csv', '/runs', '/runs/older/history.json']) {
      expect((await get(guarded.port, path, { cookie })).status, path).toBe(200);
    }
    const history = await get(guarded.port, '/history.json', { cookie });
    expect(history.body).toContain('"kind"');
    // Another port's cookie (another coordinator on this host) does not count.
    expect((await get(guarded.port, '/history.json', { cookie: `convoy-token-${open.port}=${TOKEN}` })).status).toBe(401);

    const subscribe = { type: 'subscribe', protocol: PROTOCOL_VERSION };
    expect(await upgrade(guarded.port, { cookie }, subscribe)).toMatchObject({ status: 101, type: 'snapshot' });
    expect(await upgrade(guarded.port, {}, subscribe)).toMatchObject({ status: 101, type: 'error', code: 'BAD_TOKEN' });
    expect(await upgrade(guarded.port, {}, { ...subscribe, token: TOKEN })).toMatchObject({ status: 101, type: 'snapshot' });
  });

  it('/health answers without the token and says only ok: no path, step or worker', async () => {
    for (const port of [guarded.port, open.port]) {
      const health = await get(port, '/health');
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ ok: true });
      expect(health.body).not.toContain(dir);
    }
  });
});

describe('browser checks on a loopback coordinator without a token', () => {
  it('the history is served to this machine, but not to a page that reached 127.0.0.1 through another host name (DNS rebinding)', async () => {
    expect((await get(open.port, '/history.json')).status).toBe(200);
    expect((await get(open.port, '/history.json', { host: `localhost:${open.port}` })).status).toBe(200);
    const rebound = await get(open.port, '/history.json', { host: `attacker.example:${open.port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('"kind"');
  });

  it('a WebSocket upgrade from another origin (or host name) is refused before any frame; its own origin and no origin (Node workers) are let in', async () => {
    const subscribe = { type: 'subscribe', protocol: PROTOCOL_VERSION };
    expect(await upgrade(open.port, { origin: 'http://evil.example' }, subscribe)).toEqual({ status: 403 });
    expect(await upgrade(open.port, { origin: `http://127.0.0.1:${open.port + 1}` }, subscribe)).toEqual({ status: 403 });
    expect(await upgrade(open.port, { origin: 'null' }, subscribe)).toEqual({ status: 403 });
    expect(await upgrade(open.port, { origin: `http://attacker.example:${open.port}`, host: `attacker.example:${open.port}` }, subscribe)).toEqual({ status: 403 });
    expect(await upgrade(open.port, { origin: `http://127.0.0.1:${open.port}` }, subscribe)).toMatchObject({ status: 101, type: 'snapshot' });
    expect(await upgrade(open.port, { origin: `http://localhost:${open.port}`, host: `localhost:${open.port}` }, subscribe)).toMatchObject({ status: 101, type: 'snapshot' });
    // The same host:port under https (a proxy that ends TLS in front of the coordinator) is the same server.
    expect(await upgrade(open.port, { origin: `https://127.0.0.1:${open.port}` }, subscribe)).toMatchObject({ status: 101, type: 'snapshot' });
    expect(await upgrade(open.port, { origin: `ftp://127.0.0.1:${open.port}` }, subscribe)).toEqual({ status: 403 });
    expect(await upgrade(open.port, {}, subscribe)).toMatchObject({ status: 101, type: 'snapshot' });
  });
});
