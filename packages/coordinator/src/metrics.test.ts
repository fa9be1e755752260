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

describe('MetricsHub sending to dashboards', () => {
  it('20 dashboards that never read while 60,000 step records stream: RSS within +150 MB, they are dropped, honest ones get every record', async () => {
    const hub = new MetricsHub();
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    closers.push(() => server.close());
    server.on('connection', (socket) => hub.addDashboard(socket));
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const open = (stalled: boolean) =>
      new Promise<{ socket: WebSocket; steps: number[] }>((resolve) => {
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
    const stalled = await Promise.all(Array.from({ length: 20 }, () => open(true)));
    while (server.clients.size < 2 + stalled.length) await tick();

    const before = rssMb();
    let peak = before;
    const total = 60_000;
    for (let step = 1; step <= total; step++) {
      hub.publish(stepRecord(step));
      // Batches of 500 a turn (a fast run's pace): the honest dashboards read between them.
      if (step % 500 === 0) {
        await tick();
        peak = Math.max(peak, rssMb());
      }
    }
    while (honest.some((viewer) => viewer.steps.length < total)) await tick();
    console.log(`metrics: ${total} step records (~${((total * 150) / 2 ** 20).toFixed(0)} MB a dashboard) to 2 honest and 20 stalled dashboards: RSS ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MB; ${server.clients.size} dashboards still connected`);
    expect(peak - before).toBeLessThan(150);
    for (const viewer of honest) expect(viewer.steps).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // Only the honest two are still connected: every stalled one was dropped.
    while (server.clients.size > 2) await tick();
    expect([...server.clients].length).toBe(2);
    expect(stalled.length).toBe(20);
  }, 120_000);
});
