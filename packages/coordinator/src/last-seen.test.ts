import type { GradientMessage, Message, StepMessage } from '@convoy/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lastSeenPhase } from './last-seen.js';
import { WorkerPeer } from './peers.js';
import { Scheduler, type Job, type SchedulerHost } from './scheduler.js';

describe('lastSeenPhase (sent at 100 ms)', () => {
  it.each([
    ['send', 'frame not written yet (written at 40, before the send)', 40, 150],
    ['compute', 'frame written at 103, the last ping answered was sent at 90', 103, 90],
    ['compute', 'frame written at 103, no ping answered ever', 103, 0],
    ['answer', 'frame written at 103, a ping sent at 200 answered', 103, 200],
  ] as const)('%s: %s', (phase, _case, writtenAt, answeredPingAt) => {
    expect(lastSeenPhase(100, writtenAt, answeredPingAt)).toBe(phase);
  });
});

describe('a deadline miss and a stall name the worker and its phase', () => {
  afterEach(() => vi.useRealTimers());

  function setup() {
    // Worker 1's frames are written at once and it answers; worker 2's frame is written but it stays silent.
    const links = [
      { bytesIn: 0, bytesOut: 0, lastHeard: Date.now(), writtenAt: 0, answeredPingAt: 0, figures: () => ({ rttMs: 0, downMbps: 0, upMbps: 0 }) },
      { bytesIn: 0, bytesOut: 0, lastHeard: Date.now() - 60_000, writtenAt: 0, answeredPingAt: 0, figures: () => ({ rttMs: 0, downMbps: 0, upMbps: 0 }) },
    ];
    const peers = links.map((link, i) => new WorkerPeer(i + 1, `w${i + 1}`, 'test', 'ts', link));
    const sent: { peer: WorkerPeer; message: StepMessage }[] = [];
    const events: string[] = [];
    const host: SchedulerHost = {
      workers: () => peers,
      send: (peer, message: Message) => {
        sent.push({ peer, message: message as StepMessage });
        links[peer.id - 1]!.writtenAt = performance.now();
      },
      event: (event, peer, detail) => events.push(`${event} worker ${peer?.id}: ${detail}`),
      changed: () => undefined,
    };
    const scheduler = new Scheduler(host, { deadlineMinMs: 1000, deadlineFactor: 4, deadlineFirstMs: 1000, evaluateChunk: 4 });
    for (const peer of peers) scheduler.join(peer);
    const job: Job = {
      kind: 'step', length: 8, step: 1, version: 0,
      message: (start, end, round) => ({ type: 'step', step: 1, round, epoch: 1, version: 0, indices: new Uint32Array(end - start), dropoutSeeds: new Uint32Array(end - start) }),
    };
    const answer = (entry: { message: StepMessage }): GradientMessage => ({
      type: 'gradient', step: 1, round: entry.message.round, count: entry.message.indices.length, lossSum: 1, correct: 0, gradient: new Float32Array(1), computeMs: 1, decodeMs: 0,
    });
    return { peers, sent, events, scheduler, job, answer };
  }

  it('deadline miss: "last seen in compute" for the silent worker', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const { peers, sent, events, scheduler, job, answer } = setup();
    void scheduler.run(job);
    scheduler.answer(peers[0]!, answer(sent[0]!));
    vi.advanceTimersByTime(1_001);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^deadline-miss worker 2: no answer for 4 images within 1000 ms; last seen in compute \(step frame written 0 ms after sending, silent for \d+ ms\)$/);
  });

  it('stall: stopping while a worker owes its slice names it and its phase', () => {
    const { peers, sent, events, scheduler, job, answer } = setup();
    void scheduler.run(job);
    scheduler.answer(peers[0]!, answer(sent[0]!));
    scheduler.cancel();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^stall worker 2: stopping without its answer for 4 images; last seen in compute/);
  });
});
