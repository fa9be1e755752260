/**
 * Idle TCP connections from one address (more than MAX_CONNECTIONS) filled every slot until
 * the header deadline, so /health and new workers were refused. One address may hold only
 * MAX_SILENT_PER_ADDRESS silent sockets: a worker from another address joins and /health
 * answers while they are open. NOTE: a file of its own: 2,100 connects at once right after
 * admission.test.ts's flood met a busier kernel and counted other sockets' fates.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, datasetId, decodeFrame, encodeMessage } from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
import { WebSocket, smallRunArgs, until, writeSpec } from '../distributed/helpers.js';
import { startCoordinator, tempDir, type Proc } from '../support/processes.js';

const started: Proc[] = [];
const sockets: Socket[] = [];
afterAll(() => {
  sockets.forEach((socket) => socket.destroy());
  started.forEach((proc) => proc.child.kill('SIGKILL'));
});

describe('admission: idle sockets from one address', () => {
  it('2,100 idle TCP connections from 127.0.0.2: a worker from 127.0.0.1 is welcomed and /health answers promptly', async () => {
    const dir = tempDir('admission-idle');
    // The handshake deadline outlasts the test: the address's share must stay held by the
    // flood's sockets, not be freed by the deadline while a slow machine is still counting.
    const coordinator = await startCoordinator(smallRunArgs(writeSpec(dir), `${dir}/run`, ['--handshake', '120000']));
    started.push(coordinator);
    const { train, test } = loadMnist();
    const id = datasetId(datasetHash(train), datasetHash(test));
    // More idle sockets than the coordinator's MAX_CONNECTIONS (2,048), all from one address.
    const idle = await Promise.all(
      Array.from({ length: 2_100 }, () => new Promise<Socket>((resolve) => {
        const socket = connect({ port: coordinator.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        sockets.push(socket);
        socket.on('error', () => undefined);
        socket.once('connect', () => resolve(socket));
        socket.once('close', () => resolve(socket));
      })),
    );
    const openNow = () => idle.filter((socket) => !socket.destroyed).length;
    // The address keeps MAX_SILENT_PER_ADDRESS (256) of them; the rest are closed as they are accepted.
    await until(() => openNow() <= 256, 10_000, 'the sockets beyond the limit to be closed').catch(() => undefined);
    const open = openNow();

    const healthStarted = Date.now();
    const health = await fetch(`http://127.0.0.1:${coordinator.port}/health`, { signal: AbortSignal.timeout(3_000) });
    const healthMs = Date.now() - healthStarted;
    expect(health.status).toBe(200);

    const joinStarted = Date.now();
    const worker = new WebSocket(coordinator.url, { perMessageDeflate: false });
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('open', () => worker.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'second-address', datasetHash: id, kernels: 'ts' })));
      worker.once('message', (data: Buffer) => resolve(decodeFrame(data) as { type: string }));
    });
    const joinMs = Date.now() - joinStarted;
    worker.terminate();
    console.log(`admission: ${open} of 2,100 idle sockets from 127.0.0.2 left open; /health in ${healthMs} ms, welcome in ${joinMs} ms`);
    expect(first.type).toBe('welcome');
    expect(healthMs).toBeLessThan(2_000);
    expect(joinMs).toBeLessThan(2_000);
    // The address is at its share: one more socket from it is closed by the coordinator at once.
    // (The client's own count of open sockets, printed above, is not asserted exactly: under
    // load some closes have not reached this process yet.)
    const extra = connect({ port: coordinator.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    sockets.push(extra);
    extra.on('error', () => undefined);
    const extraClosed = await Promise.race([
      new Promise<boolean>((resolve) => extra.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
    ]);
    expect(extraClosed, 'a socket beyond the address\'s share stays open').toBe(true);
    expect(open).toBeGreaterThanOrEqual(256);
    expect(open).toBeLessThan(2_048);
  }, 120_000);
});
