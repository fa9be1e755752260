/**
 * MetricsHub's sending side on real sockets (127.0.0.1, port 0): dashboards that never read
 * while records stream are dropped once what they hold in memory (bytes queued plus a
 * per-frame cost, each and all together) passes the caps, so the process's RSS stays
 * bounded; honest dashboards get every record.
 */
import { decodeFrame, type StepRecord } from '@convoy/core';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { MetricsHub } from './metrics.js';

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

function stepRecord(step: number): StepRecord {
  return { kind: 'step', step, epoch: 1, loss: 2 / (1 + step), accuracy: 0.5, images: 96, imagesSeen: 96 * step, imagesPerSecond: 9_600, learningRate: 0.01, stepMs: 10, workers: 2, time: 1_700_000_000_000 + step };
}

const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const tick = () => new Promise((resolve) => setImmediate(resolve));

interface Dashboard {
  readonly socket: WebSocket;
  readonly steps: number[];
}

/**
 * A fresh hub streams `total` step records to 2 honest dashboards and `stalledCount` that
 * never read; resolves with the RSS growth (MB) over the stream and what each dashboard got.
 */
async function stream(total: number, stalledCount: number) {
  const hub = new MetricsHub();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  closers.push(() => server.close());
  server.on('connection', (socket) => hub.addDashboard(socket));
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const open = (stalled: boolean) =>
    new Promise<Dashboard>((resolve) => {
      const socket = new WebSocket(url, { perMessageDeflate: false });
      closers.push(() => socket.terminate());
      const steps: number[] = [];
      socket.on('message', (data: Buffer) => {
        const message = decodeFrame(data) as { type: string; record?: StepRecord };
        if (message.record !== undefined) steps.push(message.record.step);
      });
      socket.on('error', () => undefined);
      socket.once('open', () => {
        // Reads nothing: its TCP socket is never read, so the hub's frames pile up.
        if (stalled) (socket as unknown as { _socket: { pause(): void } })._socket.pause();
        resolve({ socket, steps });
      });
    });
  const honest = [await open(false), await open(false)];
  const stalled = await Promise.all(Array.from({ length: stalledCount }, () => open(true)));
  while (server.clients.size < 2 + stalledCount) await tick();
  const before = rssMb();
  let peak = before;
  for (let step = 1; step <= total; step++) {
    hub.publish(stepRecord(step));
    // Batches of 500 a turn, never more than 2,000 ahead of the honest dashboards (this
    // process reads for them too): what piles up is the stalled ones' alone.
    if (step % 500 === 0) {
      await tick();
      while (honest.some((viewer) => viewer.steps.length < step - 2_000)) await tick();
      peak = Math.max(peak, rssMb());
    }
  }
  while (honest.some((viewer) => viewer.steps.length < total)) await tick();
  return { growthMb: peak - before, honest, stalled, connected: () => server.clients.size };
}

describe('MetricsHub sending to dashboards', () => {
  it('20 dashboards that never read while 60,000 step records stream: they add under 100 MB of RSS, are dropped, honest ones get every record', async () => {
    const total = 60_000;
    // The same stream without them first: the hub's own records and this process's reading are the baseline.
    const control = await stream(total, 0);
    const attacked = await stream(total, 20);
    console.log(`metrics: ${total} step records to 2 honest dashboards: RSS +${control.growthMb.toFixed(0)} MB; with 20 stalled ones too: +${attacked.growthMb.toFixed(0)} MB, ${attacked.connected()} dashboards still connected`);
    expect(attacked.growthMb - control.growthMb).toBeLessThan(100);
    for (const viewer of attacked.honest) expect(viewer.steps).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // Only the honest two are still connected: every stalled one was dropped.
    while (attacked.connected() > 2) await tick();
    expect(attacked.connected()).toBe(2);
    expect(attacked.stalled.length).toBe(20);
  }, 120_000);
});
