/**
 * The transport alone, on a real socket (127.0.0.1, port 0): connection states through the
 * handshake, what it hands on to its handlers, and that it holds no training state (the
 * handlers here are a recording stub).
 */
import { PROTOCOL_VERSION, decodeFrame, encodeMessage, type Message, type ModelSpec } from '@convoy/core';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Connection, TransportHandlers } from './connection.js';
import { resolveOptions } from './defaults.js';
import { Transport } from './transport.js';

const SPEC: ModelSpec = { input: [1, 2, 2], layers: [{ type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }] };

function recordingHandlers() {
  const calls: string[] = [];
  const joined: Connection[] = [];
  const handlers: TransportHandlers = {
    joined: (connection, hello) => (joined.push(connection), calls.push(`joined ${hello.name} as ${connection.workerId}`)),
    answer: (connection, answer) => (calls.push(`answer ${answer.type} from ${connection.workerId}`), null),
    rejected: (connection) => calls.push(`rejected ${connection.workerId}`),
    gone: (connection, event, detail) => calls.push(`gone ${connection.workerId} ${event}: ${detail}`),
    viewer: () => calls.push('viewer'),
  };
  return { calls, joined, handlers };
}

const transports: Transport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((transport) => transport.close('test over')));
});

async function start(token?: string) {
  const recorded = recordingHandlers();
  const options = resolveOptions({ port: 0, handshakeMs: 2_000, ...(token === undefined ? {} : { token }) });
  const transport = new Transport(options, { spec: SPEC, paramCount: 15, datasetId: 'data-1', datasetFrame: () => new Uint8Array(0), maxSliceLength: 64 }, recorded.handlers);
  transports.push(transport);
  const port = await transport.listen();
  return { ...recorded, transport, url: `ws://127.0.0.1:${port}` };
}

/** Opens a client, sends `first`, and collects what comes back until the socket closes. */
function client(url: string, first: Message) {
  const socket = new WebSocket(url);
  const received: Message[] = [];
  socket.on('message', (data: Buffer) => received.push(decodeFrame(data) as Message));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const opened = new Promise<void>((resolve) => socket.once('open', () => (socket.send(encodeMessage(first)), resolve())));
  const next = async (count: number) => {
    while (received.length < count) await new Promise((resolve) => setTimeout(resolve, 5));
    return received;
  };
  return { socket, received, closed, opened, next };
}

const hello = (name: string, extra: object = {}): Message => ({ type: 'hello', protocol: PROTOCOL_VERSION, name, datasetHash: 'data-1', kernels: 'ts', ...extra });

describe('Transport', () => {
  it('admits a worker: state worker, a welcome with its id, joined handed on; a close is its death', async () => {
    const { calls, joined, url } = await start();
    const worker = client(url, hello('w'));
    const [welcome] = await worker.next(1);
    expect(welcome).toMatchObject({ type: 'welcome', workerId: 1, paramCount: 15, datasetHash: 'data-1', sendingDataset: false });
    expect(joined[0]!.state).toBe('worker');
    worker.socket.close();
    await worker.closed;
    while (calls.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(calls).toEqual(['joined w as 1', 'gone 1 death: connection closed']);
    expect(joined[0]!.state).toBe('closed');
  });

  it('a worker that says leave is gone once, as a leave, not also a death', async () => {
    const { calls, url } = await start();
    const worker = client(url, hello('w'));
    await worker.next(1);
    worker.socket.send(encodeMessage({ type: 'leave', reason: 'bye now' }));
    expect(await worker.closed).toBe(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toEqual(['joined w as 1', 'gone 1 leave: bye now']);
  });

  it('refuses a wrong token and a foreign dataset before anything is handed on', async () => {
    const { calls, url } = await start('secret');
    const wrong = client(url, hello('w', { token: 'guess' }));
    expect(await wrong.closed).toBe(1008);
    expect(wrong.received).toEqual([expect.objectContaining({ type: 'error', code: 'BAD_TOKEN', fatal: true })]);
    const foreign = client(url, hello('w', { token: 'secret', datasetHash: 'data-2' }));
    expect(await foreign.closed).toBe(1008);
    expect(foreign.received[0]).toMatchObject({ code: 'DATASET_MISMATCH' });
    expect(calls).toEqual([]);
  });

  it('a dashboard gets viewer status and is closed if it sends anything more', async () => {
    const { calls, url } = await start();
    const viewer = client(url, { type: 'subscribe', protocol: PROTOCOL_VERSION });
    await viewer.opened;
    while (calls.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    viewer.socket.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION }));
    expect(await viewer.closed).toBe(1008);
    expect(viewer.received.at(-1)).toMatchObject({ code: 'UNEXPECTED_MESSAGE' });
    expect(calls).toEqual(['viewer']);
  });

  it('a worker\'s invalid frame is refused with its code and its slice handed back (rejected)', async () => {
    const { calls, url } = await start();
    const worker = client(url, hello('w'));
    await worker.next(1);
    worker.socket.send('not binary');
    const [, error] = await worker.next(2);
    expect(error).toMatchObject({ type: 'error', code: 'BAD_FRAME', fatal: false });
    expect(calls).toEqual(['joined w as 1', 'rejected 1']);
  });

  it('before hello a frame may hold 8 KiB: a larger one is refused at its header (close 1009, nothing buffered); an admitted worker may send large frames', async () => {
    const { calls, url } = await start();
    const early = new WebSocket(url);
    const received: Message[] = [];
    early.on('message', (data: Buffer) => received.push(decodeFrame(data) as Message));
    const closed = new Promise<number>((resolve) => early.once('close', (code) => resolve(code)));
    // Half of a 40 KiB frame (under this transport's maxPayload), written raw: ws would buffer the rest.
    early.once('open', () => {
      const header = Buffer.from([0x82, 0x80 | 126, 0xa0, 0x00, 0, 0, 0, 0]);
      (early as unknown as { _socket: { write(bytes: Buffer): void } })._socket.write(Buffer.concat([header, Buffer.alloc(20 * 1024)]));
    });
    expect(await closed).toBe(1009);
    expect(received).toEqual([]);
    const worker = client(url, hello('w'));
    await worker.next(1);
    // 20 KiB of garbage after the handshake: a bad frame (told, not disconnected), not a size refusal.
    worker.socket.send(new Uint8Array(20 * 1024).fill(0xc1));
    const [, error] = await worker.next(2);
    expect(error).toMatchObject({ type: 'error', code: 'BAD_FRAME', fatal: false });
    expect(calls).toEqual(['joined w as 1', 'rejected 1']);
  });

  it('one address holds at most 128 handshaking connections: the next is BUSY, another address is still admitted', async () => {
    const { calls, url } = await start();
    const silent = Array.from({ length: 128 }, () => new WebSocket(url, { localAddress: '127.0.0.2' }));
    await Promise.all(silent.map((socket) => new Promise((resolve) => socket.once('open', resolve))));
    const extra = new WebSocket(url, { localAddress: '127.0.0.2' });
    const refusal = await new Promise<Message>((resolve) => extra.once('message', (data: Buffer) => resolve(decodeFrame(data) as Message)));
    expect(refusal).toMatchObject({ type: 'error', code: 'BUSY', fatal: true });
    const worker = client(url, hello('w'));
    const [welcome] = await worker.next(1);
    expect(welcome).toMatchObject({ type: 'welcome' });
    expect(calls).toEqual(['joined w as 1']);
    silent.forEach((socket) => socket.terminate());
  });
});
