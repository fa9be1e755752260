/**
 * Test fixture: a Scheduler over `workerCount` joined WorkerPeers whose messages are recorded
 * (`sent`) with the events it reports, for tests that drive it by hand.
 */
import type { Message, StepMessage } from '@convoy/core';
import { WorkerPeer } from './peers.js';
import { Scheduler, type SchedulerHost } from './scheduler.js';

export function schedulerFixture(workerCount: number) {
  const link = { bytesIn: 0, bytesOut: 0, lastHeard: 0, writtenAt: 0, answeredPingAt: 0, figures: () => ({ rttMs: 0, downMbps: 0, upMbps: 0 }) };
  const peers = Array.from({ length: workerCount }, (_, i) => new WorkerPeer(i + 1, `w${i + 1}`, 'test', 'ts', link));
  const sent: { peer: WorkerPeer; message: StepMessage }[] = [];
  const events: string[] = [];
  const host: SchedulerHost = {
    workers: () => peers,
    send: (peer: WorkerPeer, message: Message | Uint8Array) => sent.push({ peer, message: message as StepMessage }),
    event: (event, peer) => events.push(`${event}:${peer?.id}`),
    changed: () => undefined,
  };
  const scheduler = new Scheduler(host, { deadlineMinMs: 1000, deadlineFactor: 4, deadlineFirstMs: 5000, evaluateChunk: 4 });
  for (const peer of peers) scheduler.join(peer);
  return { peers, sent, events, host, scheduler };
}
