/**
 * The scheduler's bookkeeping, driven by hand (the distributed tests drive it with real
 * processes): which worker gets which positions, and that every position is answered
 * exactly once whatever the workers do.
 */
import type { GradientMessage, StepMessage } from '@convoy/core';
import { describe, expect, it, vi } from 'vitest';
import { EXCLUSION_FIRST_MS, STRIKES_TO_EXCLUDE } from './demotion.js';
import type { Job } from './scheduler.js';
import { schedulerFixture } from './scheduler-fixture.js';

function setup(workerCount: number) {
  const { peers, sent, events, scheduler } = schedulerFixture(workerCount);
  const job: Job = {
    kind: 'step',
    length: 12,
    step: 1,
    version: 0,
    message: (start, end, round) => ({
      type: 'step', step: 1, round, epoch: 1, version: 0,
      indices: Uint32Array.from({ length: end - start }, (_, i) => start + i),
      dropoutSeeds: new Uint32Array(end - start),
    }),
  };
  const answer = (entry: { message: StepMessage }, count = entry.message.indices.length): GradientMessage => ({
    type: 'gradient', step: 1, round: entry.message.round, count, lossSum: count, correct: 0,
    gradient: new Float32Array(1), computeMs: 10, decodeMs: 0,
  });
  return { peers, sent, events, scheduler, job, answer };
}

const positions = (pieces: { start: number; end: number }[]) => pieces.map((piece) => [piece.start, piece.end]);

describe('Scheduler', () => {
  it('cuts a step into contiguous equal slices and returns the answers in position order', async () => {
    const { sent, scheduler, job, answer, peers } = setup(3);
    const done = scheduler.run(job);
    expect(sent.map((entry) => [entry.peer.id, entry.message.indices[0], entry.message.indices.length])).toEqual([[1, 0, 4], [2, 4, 4], [3, 8, 4]]);
    // Answers arrive out of order; the result is still sorted by position.
    for (const index of [2, 0, 1]) expect(scheduler.answer(peers[index]!, answer(sent[index]!))).toBeNull();
    expect(positions((await done)!)).toEqual([[0, 4], [4, 8], [8, 12]]);
  });

  it('gives a dead worker\'s slice to the others within the same step', async () => {
    const { sent, scheduler, job, answer, peers } = setup(3);
    const done = scheduler.run(job);
    scheduler.answer(peers[0]!, answer(sent[0]!));
    scheduler.lost(peers[1]!);
    // Worker 1 is free again and takes all of [4, 8): worker 3 is still busy.
    expect(sent.slice(3).map((entry) => [entry.peer.id, entry.message.indices[0], entry.message.indices.length])).toEqual([[1, 4, 4]]);
    scheduler.answer(peers[2]!, answer(sent[2]!));
    scheduler.answer(peers[0]!, answer(sent[3]!));
    const pieces = (await done)!;
    expect(positions(pieces)).toEqual([[0, 4], [4, 8], [8, 12]]);
    expect(pieces.map((piece) => piece.workerId)).toEqual([1, 1, 3]);
  });

  it('reassigns a slice whose deadline passed and ignores its late answer', async () => {
    vi.useFakeTimers();
    try {
      const { sent, events, scheduler, job, answer, peers } = setup(2);
      const done = scheduler.run(job);
      scheduler.answer(peers[0]!, answer(sent[0]!));
      // Worker 2 is unmeasured (deadlineFirstMs, 5000), but worker 1 answered at once: its first
      // deadline shrank to what worker 1's speed allows, here the floor, deadlineMinMs.
      vi.advanceTimersByTime(1001);
      expect(events).toEqual(['deadline-miss:2']);
      expect(sent[2]!.peer.id).toBe(1);
      expect(sent[2]!.message.indices[0]).toBe(6);
      // The straggler answers late: ignored, and it is free again.
      expect(scheduler.answer(peers[1]!, answer(sent[1]!))).toBeNull();
      expect(scheduler.lateAnswers).toBe(1);
      expect(peers[1]!.free).toBe(true);
      scheduler.answer(peers[0]!, answer(sent[2]!));
      const pieces = (await done)!;
      expect(pieces.map((piece) => [piece.start, piece.end, piece.workerId])).toEqual([[0, 6, 1], [6, 12, 1]]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses an answer that counts the wrong number of images, and recomputes that slice', async () => {
    const { sent, scheduler, job, answer, peers } = setup(2);
    const done = scheduler.run(job);
    expect(scheduler.answer(peers[1]!, answer(sent[1]!, 5))).toMatch(/counts 5 images, the slice has 6/);
    expect(scheduler.answer(peers[1]!, answer(sent[1]!))).toMatch(/not the round assigned/); // the same round twice
    // The slice went back out (to worker 2, the only free one); answer it properly.
    expect(sent[2]!.message.indices[0]).toBe(6);
    scheduler.answer(peers[1]!, answer(sent[2]!));
    scheduler.answer(peers[0]!, answer(sent[0]!));
    expect(positions((await done)!)).toEqual([[0, 6], [6, 12]]);
  });

  it('fails the job when every worker\'s answers are refused (a diverged model), never for one bad worker', async () => {
    const diverged = setup(2);
    const failed = diverged.scheduler.run(diverged.job);
    for (let round = 0; round < 2; round++) for (const peer of diverged.peers) diverged.scheduler.rejected(peer);
    await expect(failed).rejects.toMatchObject({ code: 'BAD_ANSWERS' });

    const oneBad = setup(2);
    const done = oneBad.scheduler.run(oneBad.job);
    for (let round = 0; round < 5; round++) oneBad.scheduler.rejected(oneBad.peers[1]!); // refused again and again
    // Worker 1 still has its first slice; the refused range waits for a free worker.
    oneBad.scheduler.answer(oneBad.peers[0]!, oneBad.answer(oneBad.sent[0]!));
    for (let i = 2; i < oneBad.sent.length; i++) {
      const entry = oneBad.sent[i]!;
      if (entry.peer.assignment?.round === entry.message.round) oneBad.scheduler.answer(entry.peer, oneBad.answer(entry));
    }
    expect(positions((await done)!)).toEqual([[0, 6], [6, 12]]);
  });

  it('puts the parameters in a job\'s message only for a worker whose version is not the job\'s', async () => {
    const { sent, scheduler, answer, peers } = setup(2);
    const withParams: [number, number, boolean][] = [];
    const job = (version: number): Job => ({
      kind: 'step', length: 4, step: version + 1, version,
      message: (start, end, round, params) => {
        withParams.push([version, round, params]);
        return {
          type: 'step', step: version + 1, round, epoch: 1, version,
          indices: Uint32Array.from({ length: end - start }, (_, i) => start + i), dropoutSeeds: new Uint32Array(end - start),
          ...(params ? { params: new Float32Array(1) } : {}),
        };
      },
    });
    const first = scheduler.run(job(0));
    // Worker 2 dies; its range goes to worker 1, which already holds version 0.
    scheduler.lost(peers[1]!);
    scheduler.answer(peers[0]!, { ...answer(sent[0]!), step: 1 });
    scheduler.answer(peers[0]!, { ...answer(sent[2]!), step: 1 });
    await first;
    expect(withParams).toEqual([[0, 1, true], [0, 2, true], [0, 3, false]]);
    expect(peers[0]!.version).toBe(0);
    const second = scheduler.run(job(1));
    scheduler.answer(peers[0]!, { ...answer(sent[3]!), step: 2 });
    await second;
    expect(withParams.at(-1)).toEqual([1, 4, true]);
    expect(peers[0]!.version).toBe(1);
  });

  it('sizes slices by measured throughput', async () => {
    const { sent, scheduler, job, answer, peers } = setup(2);
    peers[0]!.rate = 300;
    peers[1]!.rate = 100;
    const done = scheduler.run(job);
    expect(sent.map((entry) => entry.message.indices.length)).toEqual([9, 3]);
    sent.forEach((entry, i) => scheduler.answer(peers[i]!, answer(entry)));
    await done;
  });

  it('a worker missing deadlines again and again gets smaller slices, then no work for EXCLUSION_FIRST_MS (a demotion event)', async () => {
    vi.useFakeTimers();
    try {
      const { sent, events, scheduler, job, answer, peers } = setup(2);
      peers[0]!.rate = 1000;
      peers[1]!.rate = 1000;
      const shares: number[] = [];
      for (let step = 0; step < STRIKES_TO_EXCLUDE; step++) {
        peers[0]!.rate = 1000; // (fake time: its measured round trips are 0 ms)
        const from = sent.length;
        const done = scheduler.run(job);
        shares.push(sent.slice(from).find((entry) => entry.peer === peers[1])!.message.indices.length);
        scheduler.answer(peers[0]!, answer(sent[from]!));
        vi.advanceTimersByTime(1001); // worker 2 misses (deadlineMinMs); worker 1 takes its range
        for (const entry of sent.slice(from + 2)) scheduler.answer(entry.peer, answer(entry));
        // Worker 2's late answer frees it for the next step.
        scheduler.answer(peers[1]!, answer(sent[from + 1]!));
        await done;
      }
      // Each miss halved worker 2's share: 6, then 4, then 2 images of 12.
      expect(shares).toEqual([6, 4, 2]);
      expect(events.filter((event) => event === 'demotion:2')).toHaveLength(1);
      expect(peers[1]!.free).toBe(false);
      const from = sent.length;
      const done = scheduler.run(job);
      expect(sent.slice(from).map((entry) => [entry.peer.id, entry.message.indices.length])).toEqual([[1, 12]]);
      scheduler.answer(peers[0]!, answer(sent[from]!));
      await done;
      vi.advanceTimersByTime(EXCLUSION_FIRST_MS);
      expect(peers[1]!.free).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never excludes the last worker that could compute', async () => {
    vi.useFakeTimers();
    try {
      const { sent, events, scheduler, job, answer, peers } = setup(1);
      peers[0]!.rate = 1000;
      for (let step = 0; step < STRIKES_TO_EXCLUDE + 1; step++) {
        const from = sent.length;
        const done = scheduler.run(job);
        vi.advanceTimersByTime(60_000); // misses every deadline
        scheduler.answer(peers[0]!, answer(sent[from]!)); // late: dropped, the range goes to it again
        scheduler.answer(peers[0]!, answer(sent.at(-1)!));
        await done;
      }
      expect(events.filter((event) => event === 'demotion:1')).toHaveLength(0);
      expect(peers[0]!.free).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers after 3/4 of the deadline are near misses: three in a row demote the worker', async () => {
    vi.useFakeTimers();
    try {
      const { sent, events, scheduler, job, answer, peers } = setup(2);
      for (let step = 0; step < STRIKES_TO_EXCLUDE; step++) {
        peers[0]!.rate = 1000;
        peers[1]!.rate = 1000;
        const from = sent.length;
        const done = scheduler.run(job);
        // Worker 1 after 300 ms, worker 2 after 900 ms: not 4x slower than worker 1 (+100 ms),
        // but past 3/4 of its 1000 ms deadline (deadlineMinMs).
        vi.advanceTimersByTime(300);
        scheduler.answer(peers[0]!, answer(sent[from]!));
        vi.advanceTimersByTime(600);
        scheduler.answer(peers[1]!, answer(sent[from + 1]!));
        expect(events.filter((event) => event.startsWith('deadline-miss'))).toEqual([]);
        await done;
      }
      expect(events).toEqual(['demotion:2']);
      expect(peers[1]!.free).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Scheduler.broadcast (replica runs)', () => {
  it('sends an update frame to every live worker at the previous version, once; others get the full state with their next job', async () => {
    const { sent, scheduler, job, answer, peers } = setup(3);
    const withParams: boolean[] = [];
    const tracked: Job = { ...job, message: (start, end, round, full) => (withParams.push(full), job.message(start, end, round, full)) };
    const done = scheduler.run(tracked);
    for (const [i, peer] of peers.entries()) scheduler.answer(peer, answer(sent[i]!));
    await done;
    expect(withParams).toEqual([true, true, true]); // version -1 everywhere: full state
    // Worker 3 is found drifted before the update: it is left out and made stale.
    scheduler.resync(3);
    const frame = Uint8Array.of(1, 2, 3);
    const framesTo = () => sent.filter((entry) => (entry.message as unknown) === frame).map((entry) => entry.peer.id);
    expect(scheduler.broadcast(1, frame)).toBe(2);
    expect(framesTo()).toEqual([1, 2]);
    // The same version again reaches nobody (everyone at 0 is now at 1).
    expect(scheduler.broadcast(1, frame)).toBe(0);
    expect(peers.map((peer) => peer.version)).toEqual([1, 1, -1]);
    // The next step: workers 1 and 2 compute from their replicas, worker 3 gets the full state.
    withParams.length = 0;
    scheduler.run({ ...tracked, step: 2, version: 1 });
    expect(withParams).toEqual([false, false, true]);
  });
});
