import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_LIMITS, bestWasmVariant, createReferenceKernels, decodeMessage } from '@convoy/core';
import { defaultNodeKernels } from '@convoy/core/node';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Worker } from './worker.js';

/** The first frame a client sends, read from the raw bytes of its TCP connection (RFC 6455, 5.2). */
interface RawFrame {
  readonly masked: boolean;
  readonly key: number[];
  readonly payload: Uint8Array;
}

function parseClientFrame(bytes: Buffer): RawFrame | null {
  if (bytes.length < 2) return null;
  const masked = (bytes[1]! & 0x80) !== 0;
  let length = bytes[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (bytes.length < 4) return null;
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return null;
    length = Number(bytes.readBigUInt64BE(2));
    offset = 10;
  }
  const key = masked ? [...bytes.subarray(offset, offset + 4)] : [];
  offset += key.length;
  if (bytes.length < offset + length) return null;
  const payload = new Uint8Array(bytes.subarray(offset, offset + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
  return { masked, key, payload };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the worker on the wire', () => {
  it('masks its frames with the key 0, so its gradients go out without a masked copy', async () => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())), () => wss.close());
    // ws reads the socket through a 'data' listener; a second listener sees the same bytes.
    const firstFrame = new Promise<RawFrame>((resolve) => {
      wss.on('connection', (_socket, request) => {
        let seen = Buffer.alloc(0);
        request.socket.on('data', (chunk: Buffer) => {
          seen = Buffer.concat([seen, chunk]);
          const frame = parseClientFrame(seen);
          if (frame !== null) resolve(frame);
        });
      });
    });

    const { port } = http.address() as AddressInfo;
    const worker = new Worker({ url: `ws://127.0.0.1:${port}`, localData: false, name: 'mask-test', log: () => {} });
    void worker.start();
    cleanups.push(async () => {
      worker.leave('test over');
      await worker.exited;
    });

    const frame = await firstFrame;
    expect(frame.masked).toBe(true); // a client's frame must carry a key (RFC 6455, 5.1)
    expect(frame.key).toEqual([0, 0, 0, 0]);
    expect(decodeMessage(frame.payload, DEFAULT_LIMITS)).toMatchObject({ type: 'hello', name: 'mask-test' });
  });
});

describe('hello', () => {
  /** The hello a worker with `kernels` sends, as the coordinator decodes it. */
  async function hello(kernels: 'ts' | 'auto'): Promise<Record<string, unknown>> {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())), () => wss.close());
    const first = new Promise<Record<string, unknown>>((resolve) =>
      wss.on('connection', (socket) => socket.once('message', (data: Buffer) => resolve(decodeMessage(data, DEFAULT_LIMITS) as unknown as Record<string, unknown>))),
    );
    const worker = new Worker({ url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, localData: false, name: 'kernels-test', kernels, log: () => {} });
    void worker.start();
    cleanups.push(async () => {
      worker.leave('test over');
      await worker.exited;
    });
    return first;
  }

  it.each(['ts', 'auto'] as const)('kernels=%s: names the backend in use, not the choice asked for', async (kernels) => {
    const expected = kernels === 'ts' ? createReferenceKernels().name : defaultNodeKernels().name;
    expect(await hello(kernels)).toMatchObject({ type: 'hello', kernels: expected });
    expect(expected).not.toBe('auto');
  });

  it('names its runtime (Node and its version) and the WebAssembly SIMD its engine runs', async () => {
    const variant = bestWasmVariant();
    expect(await hello('ts')).toMatchObject({ runtime: `node ${process.versions.node}`, simd: variant !== null, relaxedSimd: variant === 'relaxed' });
  });
});
