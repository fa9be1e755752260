/**
 * `pnpm bench:wire`: the round trip of one step's frames between two processes on
 * 127.0.0.1 (a 4.8 MB gradient out, 4.8 MB of parameters back, as ws carries them), with
 * the worker's zero masking key and, as the peer in the same run, ws's default random key.
 *
 * The client alternates blocks of round trips between its two connections (one per key),
 * each round trip followed by a busy wait standing in for the compute; the first `warmup`
 * of each are not counted (a process's first large buffers cost page faults: bench/README.md).
 *
 *   pnpm bench:wire [-- --trips 200 --warmup 60 --block 10 --gap 20 --floats <the default model's parameter count>]
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { zeroMask } from '../packages/worker/src/worker.js';
import { benchFlags, defaultParamCount, machine, saveResults } from './measure.js';

const SERVE = '--serve';

if (process.argv.includes(SERVE)) serve();
else await measure();

/** The coordinator's side: every frame is answered with a frame of the same size, from one reused buffer. */
function serve(): void {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 2 ** 30 });
  let reply = Buffer.alloc(0);
  wss.on('listening', () => process.send!((wss.address() as AddressInfo).port));
  wss.on('connection', (socket) =>
    socket.on('message', (data: Buffer) => {
      if (reply.length !== data.length) reply = Buffer.alloc(data.length, 1);
      socket.send(reply, { binary: true });
    }),
  );
  process.on('disconnect', () => process.exit(0));
}

async function measure(): Promise<void> {
  const values = benchFlags({ trips: '200', warmup: '60', block: '10', gap: '20', floats: String(defaultParamCount()) });
  const [trips, warmup, block, gap, floats] = [values.trips, values.warmup, values.block, values.gap, values.floats].map(Number) as [number, number, number, number, number];
  const host = machine();
  process.stdout.write(`convoy bench:wire: ${trips} round trips of ${((floats * 4) / 1e6).toFixed(2)} MB each way per masking key, after ${warmup}, ${gap} ms of busy wait after each\n`);
  process.stdout.write(`machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}; load average before ${host.loadBefore.join(' ')}\n`);

  const server = fork(fileURLToPath(import.meta.url), [SERVE], { execArgv: process.execArgv, stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => server.once('message', (message) => resolve(message as number)));
  const open = (options: { generateMask?: (mask: Buffer) => void }) =>
    new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 2 ** 30, ...options });
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
  const keys = { random: await open({}), zero: await open({ generateMask: zeroMask }) };
  // A frame like a gradient: encoded once into a reused buffer, as the worker's FrameWriter does.
  const frame = Buffer.alloc(floats * 4, 7);

  const roundTrip = (socket: WebSocket) =>
    new Promise<number>((resolve) => {
      const started = performance.now();
      socket.once('message', () => resolve(performance.now() - started));
      socket.send(frame, { binary: true });
    });
  const times: Record<keyof typeof keys, number[]> = { random: [], zero: [] };
  for (let done = 0; done < warmup + trips; done += block) {
    for (const key of ['random', 'zero'] as const) {
      for (let i = 0; i < block; i++) {
        const ms = await roundTrip(keys[key]);
        if (done >= warmup) times[key].push(ms);
        const until = performance.now() + gap;
        while (performance.now() < until); // the compute's stand-in: the event loop is blocked
      }
    }
  }
  for (const socket of Object.values(keys)) socket.close();
  server.disconnect();

  const summary = Object.fromEntries(Object.entries(times).map(([key, list]) => [key, stats(list)])) as Record<keyof typeof keys, ReturnType<typeof stats>>;
  for (const [key, s] of Object.entries(summary)) process.stdout.write(`  ${key.padEnd(6)} key: round trip median ${s.median.toFixed(2)} ms, mean ${s.mean.toFixed(2)} ms, 90th percentile ${s.p90.toFixed(2)} ms\n`);
  process.stdout.write(`zero key vs random key: ${(summary.random.mean / summary.zero.mean).toFixed(2)}x on the mean, ${(summary.random.median / summary.zero.median).toFixed(2)}x on the median\n`);
  saveResults('wire', host, { trips, warmup, block, gap, floats, summary });
}

function stats(list: number[]): { median: number; mean: number; p90: number } {
  const sorted = [...list].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), mean: list.reduce((a, b) => a + b, 0) / list.length, p90: at(0.9) };
}
