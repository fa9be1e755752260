/**
 * What an admitted worker says reaches the coordinator's terminal and every dashboard:
 * - its name, leave reason and error texts are printed with control characters escaped,
 *   so a name holding ESC sequences and a newline can neither drive the terminal nor forge
 *   a line of its own (issue 18, finding 3);
 * - an `error` message with a 1,024-character text makes an event whose detail is cut to
 *   MAX_DETAIL where it is made, so a dashboard opened later still parses the snapshot; and
 *   the worker that sent it (fatal, so marked gone) has its socket closed at once, not at
 *   the next heartbeat (finding 4).
 * A real coordinator process, raw WebSocket clients speaking the protocol.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_DASHBOARD,
  MAX_DETAIL,
  PROTOCOL_VERSION,
  datasetId,
  decodeFrame,
  decodeMessage,
  encodeMessage,
  type Message,
} from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
import { WebSocket, readHistory, smallRunArgs, until, writeSpec } from '../distributed/helpers.js';
import { startCoordinator, tempDir, type Proc } from '../support/processes.js';

const dir = tempDir('untrusted-text');
const out = `${dir}/run`;
const EVIL_NAME = '\x1b]0;pwn\x07\x1b[2J\n[join] worker 99';
let coordinator: Proc & { port: number; url: string };
let id: string;

beforeAll(async () => {
  const { train, test } = loadMnist();
  id = datasetId(datasetHash(train), datasetHash(test));
  // NOTE: --min-workers 5: the run waits, so no step is handed to the raw clients below.
  // A 60 s heartbeat: a socket closed within the test's bound was closed on purpose.
  coordinator = await startCoordinator([...smallRunArgs(writeSpec(dir), out), '--min-workers', '5', '--heartbeat', '60000']);
}, 60_000);
afterAll(() => coordinator?.child.kill('SIGKILL'));

interface Client {
  readonly socket: WebSocket;
  readonly received: Record<string, unknown>[];
  readonly closed: Promise<number>;
}

/** A raw worker: connects, says hello with `name`, resolves once welcomed. */
async function rawWorker(name: string): Promise<Client> {
  const socket = new WebSocket(coordinator.url);
  const received: Record<string, unknown>[] = [];
  socket.on('message', (data: Buffer) => received.push(decodeFrame(data) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, name, datasetHash: id, kernels: 'ts' }));
  await until(() => received.some((message) => message['type'] === 'welcome'), 10_000, `the welcome of ${JSON.stringify(name)}`);
  return { socket, received, closed };
}

const send = (client: Client, message: Message) => client.socket.send(encodeMessage(message));

describe('untrusted text from admitted workers', () => {
  it('a name, leave reason and error text with escape sequences and newlines: no ESC byte and no forged line on stdout', async () => {
    const evil = await rawWorker(EVIL_NAME);
    send(evil, { type: 'leave', reason: `bye\x1b[1A\x1b[2K\r\n[death] worker 1: forged` });
    await evil.closed;
    const noisy = await rawWorker('noisy\x9b31m');
    send(noisy, { type: 'error', code: 'BOOM\x1b[5m', message: `bad\x07\n[leave] worker 98: forged`, fatal: true });
    await coordinator.waitFor(/\[leave\] worker \d+: worker error/, 10_000);
    await coordinator.waitFor(/\[leave\] worker \d+: bye/, 10_000);
    const stdout = coordinator.stdout();
    expect(stdout).not.toContain('\x1b');
    expect(stdout).not.toContain('\x07');
    expect(stdout).not.toContain('\x9b');
    expect(stdout).not.toMatch(/^\[join\] worker 99/m);
    expect(stdout).not.toMatch(/^\[death\] worker 1: forged/m);
    expect(stdout).not.toMatch(/^\[leave\] worker 98: forged/m);
    // The text is still there, escaped: the user sees what the worker sent.
    expect(stdout).toContain('\\x1b]0;pwn\\x07\\x1b[2J\\n[join] worker 99');
    expect(stdout).toContain('bad\\x07\\n[leave] worker 98: forged');
  }, 30_000);

  it('a fatal error with a 1,024-character text: the event detail is cut to MAX_DETAIL, a later dashboard parses the snapshot, and the sender is closed at once', async () => {
    const loud = await rawWorker('loud');
    const text = 'x'.repeat(1024);
    const sentAt = Date.now();
    send(loud, { type: 'error', code: 'E_LONG', message: text, fatal: true });
    const closeCode = await Promise.race([loud.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000))]);
    const closedAfterMs = Date.now() - sentAt;
    expect(closeCode, 'the socket of a worker marked gone stays open').not.toBeNull();
    expect(closedAfterMs).toBeLessThan(1_500);

    await until(() => readHistory(out).some((line) => line.kind === 'event' && String(line['detail']).includes('E_LONG')), 10_000, 'the event in history.jsonl');
    const event = readHistory(out).find((line) => line.kind === 'event' && String(line['detail']).includes('E_LONG'))!;
    const detail = String(event['detail']);
    expect(detail.length).toBeLessThanOrEqual(MAX_DETAIL);
    expect(detail.endsWith('…')).toBe(true);
    console.log(`fatal error with ${text.length} characters: socket closed after ${closedAfterMs} ms, event detail ${detail.length} characters`);

    // A dashboard opened now: its snapshot must pass the page's own parser.
    const viewer = new WebSocket(coordinator.url);
    await new Promise((resolve, reject) => viewer.once('open', resolve).once('error', reject));
    const snapshot = new Promise<Buffer>((resolve) => viewer.once('message', (data: Buffer) => resolve(data)));
    viewer.send(encodeMessage({ type: 'subscribe', protocol: PROTOCOL_VERSION }));
    const message = decodeMessage(await snapshot, { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_DASHBOARD });
    expect(message.type).toBe('snapshot');
    if (message.type !== 'snapshot') throw new Error('unreachable');
    expect(message.events.some((record) => record.detail.includes('E_LONG'))).toBe(true);
    viewer.close();
  }, 30_000);
});
