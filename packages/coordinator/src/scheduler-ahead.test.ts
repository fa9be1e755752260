/**
 * --overlap's bookkeeping, driven by hand: a step run ahead queues its slices behind the
 * current ones on the same workers, and every position of both steps is answered exactly
 * once whatever the workers do.
 */
import type { GradientMessage, StepMessage } from '@convoy/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WorkerPeer } from './peers.js';
import type { Job } from './scheduler.js';
import { schedulerFixture } from './scheduler-fixture.js';

function stepJob(step: number, version: number): Job {
  return {
    kind: 'step',
    length: 12,
    step,
    version,
    message: (start, end, round) => ({
      type: 'step', step, round, epoch: 1, version,
      indices: Uint32Array.from({ length: end - start }, (_, i) => start + i),
      dropoutSeeds: new Uint32Array(end - start),
    }),
  };
}

function setup(workerCount: number) {
  const { peers, sent, events, scheduler } = schedulerFixture(workerCount);
  const answer = (entry: { message: StepMessage }): GradientMessage => ({
    type: 'gradient', step: entry.message.step, round: entry.message.round, count: entry.message.indices.length, lossSum: 1, correct: 0,
    gradient: new Float32Array(1), computeMs: 10, decodeMs: 0,
  });
  /** What was sent, as [worker, step, first position, images]. */
  const shape = (entries: readonly { peer: WorkerPeer; message: StepMessage }[]) => entries.map(({ peer, message }) => [peer.id, message.step, message.indices[0], message.indices.length]);
  return { peers, sent, events, scheduler, answer, shape };
}

const positions = (pieces: readonly { start: number; end: number }[] | null) => pieces?.map((piece) => [piece.start, piece.end]);

afterEach(() => vi.useRealTimers());

describe('Scheduler: a step run ahead (--overlap)', () => {
  it('queues the next step behind the current one on every worker; a worker answers them in order', async () => {
    const { peers, sent, scheduler, answer, shape } = setup(2);
    const first = scheduler.runAhead(stepJob(1, 0));
    const second = scheduler.runAhead(stepJob(2, 0));
    expect(shape(sent)).toEqual([[1, 1, 0, 6], [2, 1, 6, 6], [1, 2, 0, 6], [2, 2, 6, 6]]);
    expect(peers.map((peer) => [peer.assignment?.round, peer.queued?.round])).toEqual([[1, 3], [2, 4]]);
    // The queued slice is not what the worker computes now: refused, and nothing moves.
    expect(scheduler.answer(peers[0]!, answer(sent[2]!))).toMatch(/not the round assigned/);
    expect(peers.map((peer) => [peer.assignment?.round, peer.queued?.round])).toEqual([[1, 3], [2, 4]]);
    for (const index of [1, 0]) expect(scheduler.answer(peers[index]!, answer(sent[index]!))).toBeNull();
    expect(positions(await first)).toEqual([[0, 6], [6, 12]]);
    // The queued slices moved up; nothing was sent again.
    expect(peers.map((peer) => [peer.state, peer.assignment?.round, peer.queued])).toEqual([['computing', 3, null], ['computing', 4, null]]);
    expect(sent).toHaveLength(4);
    for (const index of [3, 2]) expect(scheduler.answer(peers[index - 2]!, answer(sent[index]!))).toBeNull();
    expect(positions(await second)).toEqual([[0, 6], [6, 12]]);
    expect(peers.map((peer) => [peer.state, peer.assignment, peer.queued])).toEqual([['idle', null, null], ['idle', null, null]]);
  });

  it('a worker that misses its deadline loses its queued slice too, and both steps still count every position once', async () => {
    vi.useFakeTimers();
    const { peers, sent, events, scheduler, answer, shape } = setup(2);
    const first = scheduler.runAhead(stepJob(1, 0));
    const second = scheduler.runAhead(stepJob(2, 0));
    scheduler.answer(peers[0]!, answer(sent[0]!));
    scheduler.answer(peers[0]!, answer(sent[2]!));
    // Worker 2 answers nothing: its first deadline shrank to deadlineMinMs once worker 1 was measured.
    vi.advanceTimersByTime(1001);
    expect(events).toEqual(['deadline-miss:2']);
    const again = sent.slice(4);
    // Worker 1 takes step 1's range and queues step 2's behind it.
    expect(shape(again)).toEqual([[1, 1, 6, 6], [1, 2, 6, 6]]);
    scheduler.answer(peers[0]!, answer(again[0]!));
    scheduler.answer(peers[0]!, answer(again[1]!));
    expect(positions(await first)).toEqual([[0, 6], [6, 12]]);
    expect(positions(await second)).toEqual([[0, 6], [6, 12]]);
    expect((await second)!.map((piece) => piece.workerId)).toEqual([1, 1]);
    // Worker 2's late answers are ignored.
    scheduler.answer(peers[1]!, answer(sent[1]!));
    scheduler.answer(peers[1]!, answer(sent[3]!));
    expect(scheduler.lateAnswers).toBe(2);
  });

  it('a worker lost with two slices owed: both ranges go to the others', async () => {
    const { peers, sent, scheduler, answer, shape } = setup(3);
    const first = scheduler.runAhead(stepJob(1, 0));
    const second = scheduler.runAhead(stepJob(2, 0));
    expect(peers[1]!.owed).toBe(8);
    scheduler.answer(peers[0]!, answer(sent[0]!));
    scheduler.lost(peers[1]!);
    // Nobody is free: worker 1 computes its slice of step 2, worker 3 its slice of step 1.
    expect(sent).toHaveLength(6);
    scheduler.answer(peers[2]!, answer(sent[2]!));
    scheduler.answer(peers[0]!, answer(sent[3]!));
    // Worker 1 is free: it takes step 1's lost range first and queues step 2's behind it.
    expect(shape(sent.slice(6))).toEqual([[1, 1, 4, 4], [1, 2, 4, 4]]);
    scheduler.answer(peers[0]!, answer(sent[6]!));
    expect(positions(await first)).toEqual([[0, 4], [4, 8], [8, 12]]);
    scheduler.answer(peers[2]!, answer(sent[5]!));
    scheduler.answer(peers[0]!, answer(sent[7]!));
    expect(positions(await second)).toEqual([[0, 4], [4, 8], [8, 12]]);
    expect((await second)!.map((piece) => piece.workerId)).toEqual([1, 1, 3]);
  });

  it('dropSteps drops the step run ahead, current by then, without a stall; its late answers are ignored', async () => {
    const { peers, sent, events, scheduler, answer } = setup(2);
    const first = scheduler.runAhead(stepJob(1, 0));
    const second = scheduler.runAhead(stepJob(2, 0));
    for (const index of [0, 1]) scheduler.answer(peers[index]!, answer(sent[index]!));
    expect(positions(await first)).toEqual([[0, 6], [6, 12]]);
    scheduler.dropSteps();
    await expect(second).resolves.toBeNull();
    expect(events).toEqual([]);
    for (const index of [2, 3]) expect(scheduler.answer(peers[index - 2]!, answer(sent[index]!))).toBeNull();
    expect(scheduler.lateAnswers).toBe(2);
    // Nothing is left running: a new job may start.
    expect(() => scheduler.run(stepJob(3, 1))).not.toThrow();
  });

  it('refuses a second step ahead, and a step ahead of an evaluation', () => {
    const { scheduler } = setup(1);
    void scheduler.runAhead(stepJob(1, 0));
    void scheduler.runAhead(stepJob(2, 0));
    expect(() => scheduler.runAhead(stepJob(3, 0))).toThrow(/only one step/);
    expect(() => scheduler.run(stepJob(3, 0))).toThrow(/already running/);
  });
});
