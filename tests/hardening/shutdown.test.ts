/**
 * A worker that connects while the coordinator shuts down (its reconnect backoff ended at
 * that moment) is told to stop and closed: before, it was admitted after the stops went
 * out, never told, and the coordinator's close() waited for its socket forever.
 * A connection that sends an oversized frame in that window is dropped: before, its socket
 * had no 'error' listener yet, so ws's "Max payload size exceeded" took the process down.
 */
import { describe, expect, it } from 'vitest';
import { startCoordinator } from '../../packages/coordinator/src/index.js';
import { PROTOCOL_VERSION, decodeFrame, encodeMessage, type ModelSpec } from '../../packages/core/src/index.js';
import { SMALL_SPEC, WebSocket } from '../distributed/helpers.js';
import { tempDir } from '../support/processes.js';

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A coordinator whose close() has begun and is still waiting for a paused dashboard to answer. */
async function closingCoordinator(name: string) {
  const coordinator = await startCoordinator({ spec: SMALL_SPEC as unknown as ModelSpec, port: 0, outDir: tempDir(name), kernels: 'ts', trainSize: 1000, validationSize: 100, testSize: 0 });
  const viewer = await open(coordinator.url);
  viewer.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION }));
  await new Promise((resolve) => viewer.once('message', resolve));
  // Keep the viewer from answering the close handshake at once, so close() is still waiting when the late one arrives.
  (viewer as unknown as { _socket: { pause(): void } })._socket.pause();
  return { url: coordinator.url, closing: coordinator.close('test over') };
}

describe('shutdown', () => {
  it('an oversized frame on a connection opened once close() has begun is refused without an uncaught error', async () => {
    const uncaught: Error[] = [];
    const record = (error: Error) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      const { url, closing } = await closingCoordinator('shutdown-oversized');
      const late = new WebSocket(url);
      late.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => late.once('close', (code: number) => resolve(code)));
      late.once('open', () => late.send(Buffer.alloc(1 << 20)));
      expect(await closed).not.toBe(1000);
      await closing;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(uncaught.map((error) => error.message)).toEqual([]);
    } finally {
      process.off('uncaughtException', record);
    }
  }, 30_000);

  it('a connection opened once close() has begun gets a stop, and close() returns', async () => {
    const { url, closing } = await closingCoordinator('shutdown2');
    // NOTE: listeners before 'open': the stop may come in the same TCP read as the upgrade.
    const late = new WebSocket(url);
    const first = new Promise<string>((resolve) => late.once('message', (data: Buffer) => resolve(String((decodeFrame(data) as { type: string }).type))));
    late.on('error', () => undefined);
    expect(await first).toBe('stop');
    const started = Date.now();
    await closing;
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 30_000);
});
