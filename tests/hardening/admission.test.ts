/**
 * What an unauthenticated peer can make the coordinator hold before its handshake:
 * - 200 connections that never say hello, each sending most of a frame just under the
 *   default model's maxPayload (4.86 MB): ws buffers a frame until it is whole, so they
 *   held ~900 MB. Before hello only a few KB are read; the coordinator's RSS stays within
 *   +100 MB and the connections are cut off at once, not at the handshake deadline.
 * (Idle TCP connections from one address: idle-sockets.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startCoordinator, tempDir, type Proc } from '../support/processes.js';

const started: Proc[] = [];
const sockets: Socket[] = [];
afterAll(() => {
  sockets.forEach((socket) => socket.destroy());
  started.forEach((proc) => proc.child.kill('SIGKILL'));
});

/** Resident memory of a process, MB (Linux /proc). */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A raw WebSocket upgrade, then one binary frame whose header claims `frameBytes` and whose
 * payload is sent up to `sendBytes` (never finished). Resolves with the milliseconds from the
 * upgrade until the coordinator closed the connection.
 */
function unfinishedFrame(port: number, frameBytes: number, sendBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    const chunk = Buffer.alloc(64 * 1024);
    let upgradedAt = 0;
    let sent = 0;
    const pump = () => {
      while (sent < sendBytes && !socket.destroyed) {
        sent += chunk.byteLength;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
    };
    socket.on('error', () => undefined);
    socket.once('close', () => (upgradedAt === 0 ? reject(new Error('closed before the upgrade')) : resolve(Date.now() - upgradedAt)));
    socket.once('connect', () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    socket.once('data', (reply: Buffer) => {
      if (!reply.toString('latin1').startsWith('HTTP/1.1 101')) return reject(new Error(`no upgrade: ${reply.toString('latin1', 0, 40)}`));
      upgradedAt = Date.now();
      // FIN + binary; masked, 64-bit length; a zero mask key.
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(frameBytes), 2);
      socket.write(header);
      pump();
    });
  });
}

describe('admission: what a peer holds before its handshake', () => {
  it('200 connections each sending an unfinished 4.8 MB frame before hello: RSS within +100 MB, cut off at once', async () => {
    const out = tempDir('admission-frames');
    // The default model (1,199,882 parameters): maxPayload is 4 x that + 64 KiB + 2 x the largest slice.
    const coordinator = await startCoordinator(['--out', out, '--epochs', '1']);
    started.push(coordinator);
    const frameBytes = 4 * 1_199_882;
    await sleep(500);
    const before = rssMb(coordinator.pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(coordinator.pid))), 50);
    const closedAfterMs = await Promise.all(Array.from({ length: 200 }, () => unfinishedFrame(coordinator.port, frameBytes, frameBytes - 64 * 1024)));
    await sleep(1_000);
    clearInterval(sampler);
    const after = rssMb(coordinator.pid);
    console.log(`admission: 200 unfinished frames; coordinator RSS ${before.toFixed(0)} -> peak ${peak.toFixed(0)} -> ${after.toFixed(0)} MB 1 s later; closed after ${Math.max(...closedAfterMs)} ms at most`);
    expect(peak - before).toBeLessThan(100);
    // NOTE: what stays is the allocator's high-water mark from reading and dropping the refused
    // sockets' bytes (the frames are refused at their headers, never buffered), not held data.
    expect(after - before).toBeLessThan(100);
    // Cut off by the byte count, long before the handshake deadline (5 s).
    expect(Math.max(...closedAfterMs)).toBeLessThan(4_000);
    // The coordinator still serves.
    expect((await fetch(`http://127.0.0.1:${coordinator.port}/health`)).status).toBe(200);
    await coordinator.kill();
  }, 120_000);
});
