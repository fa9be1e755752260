/**
 * A web page as the attacker (issue 18, finding 1): a page served from ANOTHER origin (a
 * second HTTP server on 127.0.0.1, another port), opened in a real Chromium on the same
 * machine, tries `new WebSocket('ws://127.0.0.1:PORT')` to a coordinator started with the
 * defaults (loopback, no token) and sends a valid `hello`. It must be refused before any
 * frame (no `welcome`, no join event), while the coordinator's own dashboard page still goes
 * live and a socket opened from that page (what a browser-worker page served by the
 * coordinator will do) is still welcomed; with a token, the page opened as /?token=SECRET
 * loads its script through the cookie and goes live.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, datasetId, decodeFrame, encodeMessage } from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
import { smallRunArgs, writeSpec } from '../distributed/helpers.js';
import { chromiumRequirement, launchChromium } from '../support/chromium.js';
import { startCoordinator, tempDir, type Proc } from '../support/processes.js';

const browser = chromiumRequirement('the web-origin browser test');
const dir = tempDir('web-origin');
const TOKEN = 'web-origin-secret';
let hello: number[];
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

beforeAll(() => {
  const { train, test } = loadMnist();
  // The hello an honest worker with the bundled MNIST sends: before the fix it was welcomed.
  hello = [...encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'web-page', datasetHash: datasetId(datasetHash(train), datasetHash(test)), kernels: 'wasm' })];
});

/** What a page's socket saw: opened, the types of the frames it got, its close code. */
interface SocketSeen {
  opened: boolean;
  frames: number[][];
  closed: number | null;
}

/** In `page`: opens a socket to `url`, sends the hello, and reports once it closed or got a frame (or after 3 s). */
async function trySocket(page: Page, url: string): Promise<{ opened: boolean; types: string[]; closed: number | null }> {
  const seen = await page.evaluate(
    ({ url, bytes }) =>
      new Promise<SocketSeen>((resolve) => {
        const seen: SocketSeen = { opened: false, frames: [], closed: null };
        const socket = new WebSocket(url);
        socket.binaryType = 'arraybuffer';
        socket.onopen = () => {
          seen.opened = true;
          socket.send(new Uint8Array(bytes));
        };
        socket.onmessage = (event: MessageEvent<ArrayBuffer>) => {
          seen.frames.push([...new Uint8Array(event.data)]);
          socket.close();
        };
        socket.onclose = (event) => {
          seen.closed = event.code;
          resolve(seen);
        };
        setTimeout(() => resolve(seen), 3_000);
      }),
    { url, bytes: hello },
  );
  return { opened: seen.opened, types: seen.frames.map((frame) => String((decodeFrame(Uint8Array.from(frame)) as { type: unknown }).type)), closed: seen.closed };
}

/** Resolves once the dashboard page shows the connection as live. */
const live = (page: Page) => page.waitForFunction(() => document.getElementById('connection')?.dataset['state'] === 'live', null, { timeout: 20_000 });

describe.skipIf(browser.skip)('a web page from another origin against a default coordinator', () => {
  let context: BrowserContext;
  let coordinator: Proc & { port: number };
  let guarded: Proc & { port: number };
  let foreign: Server;

  beforeAll(async () => {
    browser.check();
    const spec = writeSpec(dir);
    // NOTE: --min-workers 5: the runs wait, so nothing is trained with what the page might send.
    [coordinator, guarded] = await Promise.all([
      startCoordinator([...smallRunArgs(spec, join(dir, 'open')), '--min-workers', '5']),
      startCoordinator([...smallRunArgs(spec, join(dir, 'guarded')), '--min-workers', '5'], { env: { CONVOY_TOKEN: TOKEN } }),
    ]);
    cleanup.push(() => coordinator.kill(), () => guarded.kill());
    foreign = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!doctype html><title>some other site</title><p>nothing to see</p>');
    });
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => foreign.close(resolve)));
    context = await launchChromium();
    cleanup.push(() => context.close());
  }, 60_000);

  it('the foreign page is refused before any frame: never welcomed, no join', async () => {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`);
    const seen = await trySocket(page, `ws://127.0.0.1:${coordinator.port}`);
    expect(seen.types).not.toContain('welcome');
    expect(seen).toEqual({ opened: false, types: [], closed: 1006 });
    // Nor through localhost, the same machine under another name.
    expect((await trySocket(page, `ws://localhost:${coordinator.port}`)).types).toEqual([]);
    expect(coordinator.stdout()).not.toMatch(/\[join\]/);
  }, 30_000);

  it("the coordinator's own dashboard goes live, and a socket from its own page is still welcomed", async () => {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${coordinator.port}/`);
    await live(page);
    expect((await trySocket(page, `ws://127.0.0.1:${coordinator.port}`)).types).toEqual(['welcome']);
  }, 30_000);

  it('with a token: the page opened as /?token=SECRET loads through its cookie and goes live; the foreign page is refused there too', async () => {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${guarded.port}/?token=${TOKEN}`);
    await live(page);
    expect(pageErrors).toEqual([]);
    const other = await context.newPage();
    await other.goto(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`);
    expect((await trySocket(other, `ws://127.0.0.1:${guarded.port}`)).types).toEqual([]);
  }, 30_000);
});
