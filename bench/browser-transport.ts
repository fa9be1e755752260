/**
 * `node --import tsx bench/browser-transport.ts [--rounds 5]`: how fast Chromium moves a
 * 4.8 MB frame (the default model's parameters or gradient) between a Node server and a page's
 * Web Worker, by each way a browser worker could use, alternating the ways every round:
 * - up: WebSocket.send of an ArrayBuffer view, of a Blob, of 16 pieces, and fetch POST;
 * - down: a WebSocket message (binaryType arraybuffer, and blob), and fetch GET.
 * Times run from the sending side's call to the receiving side's last byte, in ms (medians).
 * bench/README.md ("Browser worker") says what it decided.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { launchChromium } from '../tests/support/chromium.js';
import { benchFlags, median } from './measure.js';

const SIZE = 4_800_000;
const rounds = Number(benchFlags({ rounds: '5' }).rounds);
const payload = Buffer.alloc(SIZE, 5);

// The Web Worker: answers 'up:<way>' by sending SIZE bytes that way, and reports each download's arrival.
const workerSource = `
const bytes = new Uint8Array(${SIZE}).fill(3);
const now = () => performance.timeOrigin + performance.now();
const socket = new WebSocket('ws://' + location.host + '/arraybuffer'); socket.binaryType = 'arraybuffer';
socket.onmessage = (m) => postMessage(['down-arraybuffer', now()]);
const blobSocket = new WebSocket('ws://' + location.host + '/blob'); blobSocket.binaryType = 'blob';
blobSocket.onmessage = async (m) => { await m.data.arrayBuffer(); postMessage(['down-blob', now()]); };
onmessage = async (e) => {
  const started = now();
  if (e.data === 'up-arraybuffer') socket.send(bytes);
  else if (e.data === 'up-blob') socket.send(new Blob([bytes]));
  else if (e.data === 'up-pieces') for (let i = 0; i < 16; i++) socket.send(bytes.subarray(i * ${SIZE / 16}, (i + 1) * ${SIZE / 16}));
  else if (e.data === 'up-fetch') await fetch('/up', { method: 'POST', body: bytes });
  else if (e.data === 'down-fetch') { await (await fetch('/down')).arrayBuffer(); postMessage(['down-fetch', now()]); return; }
  postMessage([e.data, started]);
};`;

const now = () => performance.timeOrigin + performance.now();
let uploaded: ((at: number) => void) | null = null;
let fetchStarted = 0;
const http = createServer((request, response) => {
  if (request.url === '/w.js') return response.end(workerSource);
  if (request.url === '/up') {
    request.resume();
    request.on('end', () => { uploaded?.(now()); response.end('ok'); });
    return;
  }
  if (request.url === '/down') {
    fetchStarted = now();
    return response.end(payload);
  }
  response.setHeader('content-type', 'text/html');
  response.end(`<!doctype html><script>window.seen = []; window.w = new Worker('/w.js'); w.onmessage = (e) => seen.push(e.data);</script>`);
});
const sockets = new Map<string, WebSocket>();
let partial = 0;
const server = new WebSocketServer({ server: http, perMessageDeflate: false });
server.on('connection', (socket, request) => {
  sockets.set(request.url ?? '', socket);
  socket.on('message', (data: Buffer) => {
    partial += data.length;
    if (partial < SIZE) return;
    partial = 0;
    uploaded?.(now());
  });
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const port = (http.address() as { port: number }).port;
const context = await launchChromium();
const page = await context.newPage();
await page.goto(`http://127.0.0.1:${port}/`);
while (sockets.size < 2) await new Promise((resolve) => setTimeout(resolve, 50));

/** The worker's n-th report: [what, time]. */
async function report(n: number): Promise<[string, number]> {
  while (((await page.evaluate('seen.length')) as number) < n) await new Promise((resolve) => setTimeout(resolve, 5));
  return (await page.evaluate(`seen[${n - 1}]`)) as [string, number];
}

const times: Record<string, number[]> = {};
let reports = 0;
for (let round = 0; round < rounds; round++) {
  for (const way of ['up-arraybuffer', 'up-blob', 'up-pieces', 'up-fetch']) {
    const arrived = new Promise<number>((resolve) => (uploaded = resolve));
    await page.evaluate(`w.postMessage(${JSON.stringify(way)})`);
    const end = await arrived;
    const [, started] = await report(++reports);
    (times[way] ??= []).push(end - started);
  }
  for (const [path, way] of [['/arraybuffer', 'down-arraybuffer'], ['/blob', 'down-blob']] as const) {
    const started = now();
    sockets.get(path)!.send(payload);
    const [, end] = await report(++reports);
    (times[way] ??= []).push(end - started);
  }
  await page.evaluate(`w.postMessage('down-fetch')`);
  const [, end] = await report(++reports);
  (times['down-fetch'] ??= []).push(end - fetchStarted);
}
for (const [way, values] of Object.entries(times)) {
  process.stdout.write(`${way.padEnd(17)} ${median(values).toFixed(0).padStart(6)} ms  (${values.map((value) => value.toFixed(0)).join(' ')})\n`);
}
await context.close();
server.close();
http.close();
