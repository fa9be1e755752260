/**
 * The number of dashboard viewers on a real coordinator is capped: one more than
 * MAX_VIEWERS is refused with an error code (the page shows it) and closed, and a place
 * freed is taken again. (Viewers that never read: packages/coordinator/src/metrics-viewers.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_VIEWERS } from '../../packages/coordinator/src/metrics.js';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage } from '../../packages/core/src/index.js';
import { WebSocket, smallRunArgs, until, writeSpec } from '../distributed/helpers.js';
import { startCoordinator, tempDir, type Proc } from '../support/processes.js';

const started: Proc[] = [];
const sockets: WebSocket[] = [];
afterAll(() => {
  sockets.forEach((socket) => socket.terminate());
  started.forEach((proc) => proc.child.kill('SIGKILL'));
});

interface Viewer {
  readonly socket: WebSocket;
  /** Record kinds received, in order ('snapshot' for the first frame). */
  readonly kinds: string[];
  readonly closed: Promise<void>;
}

function subscribe(url: string): Viewer {
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  sockets.push(socket);
  const kinds: string[] = [];
  socket.on('error', () => undefined);
  socket.on('message', (data: Buffer) => {
    const message = decodeFrame(data) as { type: string; record?: { kind: string }; code?: string };
    kinds.push(message.type === 'metrics' ? message.record!.kind : message.type === 'error' ? `error ${message.code}` : message.type);
  });
  socket.once('open', () => {
    socket.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION }));
  });
  return { socket, kinds, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

describe('dashboard viewers', () => {
  it(`one viewer more than MAX_VIEWERS (${MAX_VIEWERS}) is refused with TOO_MANY_VIEWERS`, async () => {
    const dir = tempDir('viewers-cap');
    const coordinator = await startCoordinator(smallRunArgs(writeSpec(dir), `${dir}/run`));
    started.push(coordinator);
    const viewers: Viewer[] = [];
    // In batches below the per-address handshaking limit, each batch subscribed before the next.
    for (let batch = 0; batch < MAX_VIEWERS / 32; batch++) {
      const next = Array.from({ length: 32 }, () => subscribe(coordinator.url));
      await until(() => next.every((viewer) => viewer.kinds.length > 0), 30_000, 'the snapshots');
      viewers.push(...next);
    }
    const extra = subscribe(coordinator.url);
    await extra.closed;
    expect(extra.kinds).toEqual(['error TOO_MANY_VIEWERS']);
    expect(extra.socket.readyState).toBe(WebSocket.CLOSED);
    // The others are still served.
    viewers[0]!.socket.close();
    await viewers[0]!.closed;
    const again = subscribe(coordinator.url);
    await until(() => again.kinds.length > 0, 30_000, 'a snapshot once a place is free');
    expect(again.kinds[0]).toBe('snapshot');
  }, 120_000);
});
