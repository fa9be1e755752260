/**
 * What the coordinator measures of each worker's link: the LinkMeter's arithmetic on given
 * times, then real sockets on 127.0.0.1 (port 0): byte counters equal to the frames' own
 * sizes, the step's bytes per worker (StepLinks), a ping round trip, and both bandwidth
 * estimates through a relay that paces every byte to a known rate.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage, type Message, type ModelSpec } from '@convoy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Connection, TransportHandlers } from './connection.js';
import { resolveOptions } from './defaults.js';
import { LINK_PROBE_MS, LinkMeter, MIN_BANDWIDTH_FRAME_BYTES, megabitsPerSecond } from './link-meter.js';
import { StepLinks } from './step-links.js';
import { Transport } from './transport.js';

describe('LinkMeter arithmetic', () => {
  it('round trip: the smallest of the recent probes; a pong without the probe payload is no sample', () => {
    const meter = new LinkMeter();
    expect(meter.rttMs).toBe(0);
    for (const [sentAt, rtt] of [[0, 30], [1000, 12.5], [2000, 80]] as const) {
      const payload = meter.nextProbe(sentAt);
      meter.pong(Buffer.alloc(0), sentAt + 1); // a heartbeat pong
      meter.pong(payload, sentAt + rtt);
    }
    expect(meter.rttMs).toBe(12.5);
    // An answer to a forgotten probe (a newer one went out) is not counted.
    const old = meter.nextProbe(3000);
    meter.nextProbe(3001);
    meter.pong(old, 3002);
    expect(meter.rttMs).toBe(12.5);
  });

  it('up: bytes after the first chunk over the time from it to the frame\'s end; a lone pong chunk starts nothing', () => {
    const meter = new LinkMeter();
    meter.chunk(10, 0); // a pong, alone in its chunk
    meter.pong(Buffer.alloc(0), 0);
    // 1,000,000 bytes: 100,000 at t=100, the rest by t=190 -> 900,000 bytes in 90 ms = 80 Mbit/s.
    meter.chunk(100_000, 100);
    for (let i = 1; i <= 9; i++) meter.chunk(100_000, 100 + 10 * i);
    meter.frameReceived(1_000_000, 190);
    expect(meter.upMbps).toBeCloseTo((8 * 900_000) / 90_000, 6);
    expect(meter.upMbps).toBeCloseTo(80, 6);
    // A small frame says nothing about bandwidth.
    meter.chunk(1000, 300);
    meter.frameReceived(1000, 305);
    expect(meter.upMbps).toBeCloseTo(80, 6);
  });

  it('down: the frame over (first byte back - sent - round trip - worker\'s work); not when the socket had a queue', () => {
    const meter = new LinkMeter();
    meter.pong(meter.nextProbe(0), 20); // rtt 20 ms
    // 1,000,000 bytes sent at 100; the answer's first byte at 300; the worker worked 80 ms:
    // 300 - 100 - 20 - 80 = 100 ms of transfer -> 80 Mbit/s.
    meter.frameSent(1_000_000, 100, 0);
    meter.chunk(64 * 1024, 300);
    meter.frameReceived(1_000_000, 400);
    meter.answered(80);
    expect(meter.downMbps).toBeCloseTo(80, 6);
    // Behind a frame still queued on the socket, the time says nothing: no sample.
    meter.frameSent(1_000_000, 1000, 5_000_000);
    meter.chunk(64 * 1024, 1300);
    meter.frameReceived(1_000_000, 1400);
    meter.answered(0);
    expect(meter.downMbps).toBeCloseTo(80, 6);
    expect(megabitsPerSecond(125_000, 1)).toBe(1000);
  });
});

const SPEC: ModelSpec = { input: [1, 2, 2], layers: [{ type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }] };

const transports: Transport[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(transports.splice(0).map((transport) => transport.close('test over')));
});

async function startTransport(paramCount: number) {
  const joined: Connection[] = [];
  const handlers: TransportHandlers = {
    joined: (connection) => joined.push(connection),
    answer: () => null,
    rejected: () => undefined,
    gone: () => undefined,
    viewer: () => undefined,
  };
  const transport = new Transport(resolveOptions({ port: 0 }), { spec: SPEC, paramCount, datasetId: 'data-1', datasetFrame: () => new Uint8Array(0), maxSliceLength: 64 }, handlers);
  transports.push(transport);
  const port = await transport.listen();
  return { transport, joined, port };
}

/** A worker client that counts the bytes of every frame each way. */
async function worker(url: string) {
  const socket = new WebSocket(url);
  cleanups.push(() => socket.terminate());
  const received: Message[] = [];
  const counted = { in: 0, out: 0 };
  socket.on('message', (data: Buffer) => {
    counted.in += data.byteLength;
    received.push(decodeFrame(data) as Message);
  });
  const send = (message: Message) => {
    const frame = encodeMessage(message);
    counted.out += frame.byteLength;
    socket.send(frame);
  };
  await new Promise((resolve) => socket.once('open', resolve));
  send({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'w', datasetHash: 'data-1', kernels: 'ts' });
  const next = async (count: number) => {
    while (received.length < count) await new Promise((resolve) => setTimeout(resolve, 2));
    return received[count - 1]!;
  };
  await next(1);
  return { socket, counted, send, next };
}

const stepMessage = (params: Float32Array): Message => ({
  type: 'step', step: 1, round: 1, epoch: 1, version: 0, params, indices: Uint32Array.from([1, 2]), dropoutSeeds: Uint32Array.from([7, 8]),
});
const gradientMessage = (paramCount: number, computeMs: number): Message => ({
  type: 'gradient', step: 1, round: 1, count: 2, lossSum: 1.5, correct: 1, gradient: new Float32Array(paramCount).fill(0.25), computeMs, decodeMs: 0,
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('link figures on real sockets', () => {
  it('counters equal the frames\' sizes each way; StepLinks gives the step\'s bytes per worker; a probe measures the round trip', async () => {
    const paramCount = 1000;
    const { transport, joined, port } = await startTransport(paramCount);
    const client = await worker(`ws://127.0.0.1:${port}`);
    const connection = joined[0]!;
    expect(connection.bytesOut).toBe(client.counted.in); // the welcome
    const links = new StepLinks(() => [{ id: connection.workerId, link: connection }]);
    links.stepStarted();
    const before = { ...client.counted };
    transport.send(connection, stepMessage(new Float32Array(paramCount)));
    await client.next(2);
    client.send(gradientMessage(paramCount, 3));
    await until(() => connection.bytesIn === client.counted.out, 5_000);
    links.stepFinished();
    const down = client.counted.in - before.in;
    const up = client.counted.out - before.out;
    expect(down).toBe(encodeMessage(stepMessage(new Float32Array(paramCount))).byteLength);
    expect(up).toBeGreaterThan(4 * paramCount);
    expect(connection.bytesOut).toBe(client.counted.in);
    expect(links.fields()).toMatchObject({ bytesDown: down, bytesUp: up, links: [{ workerId: connection.workerId, bytesDown: down, bytesUp: up }] });
    // A step with no traffic on the link lists no worker.
    links.stepStarted();
    links.stepFinished();
    expect(links.fields()).toEqual({ bytesDown: 0, bytesUp: 0, links: [] });
    // The probe comes within LINK_PROBE_MS; on loopback its round trip is well under 100 ms.
    await until(() => connection.meter.rttMs > 0, 3 * LINK_PROBE_MS);
    expect(connection.figures().rttMs).toBeLessThan(100);
  });

  it('both bandwidths come out near the rate of a relay pacing every byte (40 Mbit/s)', async () => {
    const paramCount = 256 * 1024; // 1 MiB of floats each way
    expect(4 * paramCount).toBeGreaterThan(MIN_BANDWIDTH_FRAME_BYTES);
    const { transport, joined, port } = await startTransport(paramCount);
    const rateMbps = 40;
    const relay = await pacedRelay(port, (rateMbps * 1e6) / 8);
    cleanups.push(() => relay.close());
    const client = await worker(`ws://127.0.0.1:${relay.port}`);
    const connection = joined[0]!;
    await until(() => connection.meter.rttMs > 0, 3 * LINK_PROBE_MS);
    const workMs = 30;
    transport.send(connection, stepMessage(new Float32Array(paramCount)));
    await client.next(2);
    await new Promise((resolve) => setTimeout(resolve, workMs));
    client.send(gradientMessage(paramCount, workMs));
    await until(() => connection.bytesIn === client.counted.out, 10_000);
    const { downMbps, upMbps } = connection.figures();
    // The relay sets the ceiling; a loaded machine may deliver less, never much more.
    const shown = `down ${downMbps} Mbit/s, up ${upMbps} Mbit/s through a ${rateMbps} Mbit/s relay`;
    expect(upMbps, shown).toBeGreaterThan(0.6 * rateMbps);
    expect(upMbps, shown).toBeLessThan(1.25 * rateMbps);
    expect(downMbps, shown).toBeGreaterThan(0.6 * rateMbps);
    expect(downMbps, shown).toBeLessThan(1.25 * rateMbps);
  }, 20_000);
});

/** A TCP relay to 127.0.0.1:`targetPort` that passes at most `bytesPerSecond` each way. */
async function pacedRelay(targetPort: number, bytesPerSecond: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const pace = (from: Socket, to: Socket) => {
    const queue: Buffer[] = [];
    let last = performance.now();
    let allowance = 0;
    from.on('data', (chunk: Buffer) => queue.push(chunk));
    const timer = setInterval(() => {
      const now = performance.now();
      // NOTE: the link saves up at most 64 KiB (a late timer catches up, an idle link does not burst): the rate holds from a frame's first byte.
      allowance = Math.min(allowance + (bytesPerSecond * (now - last)) / 1000, Math.max(64 * 1024, allowance));
      last = now;
      while (queue.length > 0 && allowance >= 1) {
        const head = queue[0]!;
        const take = Math.min(head.length, Math.floor(allowance));
        to.write(head.subarray(0, take));
        allowance -= take;
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
      }
      if (queue.length === 0) allowance = Math.min(allowance, 64 * 1024);
    }, 2);
    timers.add(timer);
  };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      socket.on('close', () => (client.destroy(), upstream.destroy()));
    }
    pace(client, upstream);
    pace(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
