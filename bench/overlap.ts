/**
 * `pnpm bench:overlap`: what a gradient sent during the compute would cost the compute
 * when the workers and the coordinator share the machine's cores.
 *
 * Overlapping the exchange with the compute (each worker sending its dense layers'
 * gradient, 98% of the bytes, while its conv backward runs) takes the gradient's transfer
 * off the critical path of a step only if the CPU that carries it (the kernel's copies on
 * both ends, ws reading the frame) is free. With as many workers as cores it is not. This
 * measures the price: two bare compute processes (bench/compute-loop.ts, 128 images a call,
 * a 2-worker step at global batch 256) alone, and then with two clients, each sending a
 * 4.8 MB frame with the masking key 0 to a third process every `gap` ms (acknowledged with
 * 8 bytes), the traffic an overlapped step would put beside each worker's compute.
 * Alternating rounds (alone, loaded, alone, ...): this VM's speed drifts from one minute
 * to the next.
 *
 *   pnpm bench:overlap [-- --rounds 8 --gap 250 --steps 40 --warmup 10]
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { zeroMask } from '../packages/worker/src/worker.js';
import { bareCompute, benchFlags, defaultParamCount, machine, median, saveResults } from './measure.js';

const SELF = fileURLToPath(import.meta.url);
const SLICE = 128;

if (process.argv[2] === '--serve') serve();
else if (process.argv[2] === '--send') send(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else await measure();

/** The coordinator's side: takes each frame and acknowledges it with 8 bytes. */
function serve(): void {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 2 ** 30 });
  const ack = Buffer.alloc(8);
  wss.on('listening', () => process.send!((wss.address() as AddressInfo).port));
  wss.on('connection', (socket) => socket.on('message', () => socket.send(ack, { binary: true })));
  process.on('disconnect', () => process.exit(0));
}

/** A worker's side: a frame of `bytes`, then `gap` ms idle after each acknowledgement; prints its count when told to stop. */
function send(port: number, gap: number, bytes: number): void {
  const frame = Buffer.alloc(bytes, 7);
  const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: 2 ** 30, generateMask: zeroMask });
  let frames = 0;
  const next = () => socket.send(frame, { binary: true });
  socket.on('open', next);
  socket.on('message', () => {
    frames++;
    setTimeout(next, gap);
  });
  process.on('disconnect', () => {
    process.stdout.write(`${frames}\n`);
    process.exit(0);
  });
}

async function measure(): Promise<void> {
  const values = benchFlags({ rounds: '8', gap: '250', steps: '40', warmup: '10' });
  const [rounds, gap] = [Number(values.rounds), Number(values.gap)];
  const gradientBytes = 4 * defaultParamCount();
  const host = machine();
  process.stdout.write(`convoy bench:overlap: ${rounds} rounds; 2 compute processes of ${SLICE} images a call (${values.steps} calls after ${values.warmup}), alone and beside 2 senders of ${(gradientBytes / 1e6).toFixed(2)} MB every ${gap} ms\n`);
  process.stdout.write(`machine: ${host.cpu}, ${host.cores} cores, Node ${host.node}; load average before ${host.loadBefore.join(' ')}\n`);

  const twoAtOnce = () => bareCompute({ processes: 2, slice: SLICE, steps: Number(values.steps), warmup: Number(values.warmup), kernels: 'auto' });

  const measured: { alone: number; loaded: number; framesPerSecond: number }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const alone = await twoAtOnce();
    const server = fork(SELF, ['--serve'], { execArgv: process.execArgv });
    const port = await new Promise<number>((resolve) => server.once('message', (message) => resolve(message as number)));
    const senders = [0, 1].map(() => fork(SELF, ['--send', String(port), String(gap), String(gradientBytes)], { execArgv: process.execArgv, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }));
    const started = performance.now();
    const loaded = await twoAtOnce();
    const seconds = (performance.now() - started) / 1000;
    const counts = await Promise.all(
      senders.map(
        (sender) =>
          new Promise<number>((resolve) => {
            let output = '';
            sender.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
            sender.once('exit', () => resolve(Number(output)));
            sender.disconnect();
          }),
      ),
    );
    server.disconnect();
    const framesPerSecond = counts.reduce((a, b) => a + b, 0) / seconds;
    measured.push({ alone, loaded, framesPerSecond });
    process.stdout.write(`  round ${round}: alone ${alone.toFixed(1)} images/s, beside the senders ${loaded.toFixed(1)} (${framesPerSecond.toFixed(2)} frames/s)\n`);
  }

  const ratios = measured.map((m) => m.loaded / m.alone);
  const ratio = median(ratios);
  // One compute call of SLICE images per process, at the two processes' median speed alone.
  const callMs = (1000 * SLICE * 2) / median(measured.map((m) => m.alone));
  const framesPerCall = (median(measured.map((m) => m.framesPerSecond)) / 2) * (callMs / 1000);
  process.stdout.write(`beside the senders / alone, per round: ${ratios.map((r) => r.toFixed(3)).join(' ')}; median ${ratio.toFixed(3)}x\n`);
  process.stdout.write(`a ${SLICE}-image call: ${callMs.toFixed(1)} ms alone, ${(callMs / ratio - callMs).toFixed(1)} ms longer beside ${framesPerCall.toFixed(2)} frames per sender per call\n`);
  saveResults('overlap', host, { rounds, gap, steps: Number(values.steps), warmup: Number(values.warmup), measured, ratio, callMs, framesPerCall });
}
