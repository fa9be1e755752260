import { describe, expect, it } from 'vitest';
import { EPOCHS_WITH_PIXELS, MAX_EVENTS, RunState, estimatePriorSeconds } from './run-state.js';
import { START_TIME, epochRecord, eventRecord, fixtureHistory, runRecord, stepRecord, workerRow } from './testing/history-fixture.js';

describe('RunState', () => {
  it('from a snapshot mid-run: series, workers and progress (images/s over the window, ETA from the step rate)', () => {
    const state = new RunState();
    state.reset({ ...fixtureHistory(20), run: runRecord() }); // steps 1..20, 100 ms and 32 images apart; 30 steps in total
    expect(state.loss.xs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(state.loss.ys[9]).toBe(1); // 2 / (1 + 10/10)
    expect(state.workers.map((row) => row.id)).toEqual([1, 2]);
    const progress = state.progress(START_TIME + 2_500);
    expect(progress).toMatchObject({ phase: 'training', epoch: 2, epochs: 3, step: 20, totalSteps: 30, imagesSeen: 640 });
    expect(progress.imagesPerSecond).toBeCloseTo(320, 9); // 32 images per 0.1 s
    expect(progress.etaSeconds).toBeCloseTo(10 * 0.1, 9); // 10 steps left at 0.1 s a step
    expect(progress.elapsedSeconds).toBeCloseTo(2.5, 9);
  });

  it('follows live records; a replayed step changes nothing; the end stops the clock and the ETA', () => {
    const state = new RunState();
    state.reset({ ...fixtureHistory(0), run: runRecord() });
    expect(state.progress(START_TIME).phase).toBe('waiting');
    for (let step = 1; step <= 30; step++) state.apply(stepRecord(step));
    const version = state.version;
    state.apply(stepRecord(12));
    expect(state.loss.length).toBe(30);
    expect(state.lastStep!.step).toBe(30);
    expect(state.version).toBe(version + 1);
    state.apply({ kind: 'end', reason: 'finished', step: 30, detail: '', time: START_TIME + 4_000 });
    const progress = state.progress(START_TIME + 60_000);
    expect(progress.phase).toBe('finished');
    expect(progress.etaSeconds).toBeNull();
    expect(progress.elapsedSeconds).toBeCloseTo(4, 9);
  });

  it('keeps the learning rate of every step (a schedule that changes it shows as a step in the curve)', () => {
    const state = new RunState();
    state.reset({ ...fixtureHistory(0), run: runRecord() });
    for (let step = 1; step <= 20; step++) state.apply({ ...stepRecord(step), learningRate: step <= 10 ? 0.1 : 0.07 });
    expect(state.learningRate.xs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(state.learningRate.ys.slice(8, 12)).toEqual([0.1, 0.1, 0.07, 0.07]);
    state.reset({ ...fixtureHistory(3), run: runRecord() });
    expect(state.learningRate.ys).toEqual([0.1, 0.1, 0.1]);
  });

  it('a past run: its clock stops at its last record; without an end record it was interrupted', () => {
    const state = new RunState();
    state.past = true;
    state.reset({ ...fixtureHistory(20), run: runRecord() }); // last record: the epoch of step 20, at 100 * 20 + 50 ms
    const progress = state.progress(START_TIME + 3_600_000);
    expect(progress.phase).toBe('interrupted');
    expect(progress.elapsedSeconds).toBeCloseTo(2.05, 9);
    expect(progress.etaSeconds).toBeNull();
  });

  it('a death or leave event marks the worker gone at once', () => {
    const state = new RunState();
    state.reset(fixtureHistory(5));
    state.apply(eventRecord('death', 5, 2, 'connection closed'));
    expect(state.workers.map((row) => row.state)).toEqual(['idle', 'gone']);
    state.apply({ kind: 'workers', workers: [workerRow(1, 'computing'), workerRow(2, 'gone'), workerRow(3, 'joining')], time: START_TIME });
    expect(state.workers.map((row) => row.state)).toEqual(['computing', 'gone', 'joining']);
  });

  it('bounded: 20,000 steps, 3,000 events and 30 epochs keep a bounded series, the newest events, pixels of the last epochs only', () => {
    const state = new RunState({ maxPoints: 1_000, recentPoints: 300 });
    state.reset({ ...fixtureHistory(0), run: runRecord() });
    for (let step = 1; step <= 20_000; step++) state.apply(stepRecord(step));
    for (let i = 0; i < 3_000; i++) state.apply(eventRecord('deadline-miss', i, 1, `miss ${i}`));
    for (let epoch = 1; epoch <= 30; epoch++) state.apply(epochRecord(epoch, epoch * 100));
    expect(state.loss.length).toBeLessThan(1_000);
    expect(state.accuracy.length).toBeLessThan(1_000);
    expect(state.events.length).toBe(MAX_EVENTS);
    expect(state.events.at(-1)!.detail).toBe('miss 2999');
    const withPixels = state.epochs.filter((epoch) => epoch.misclassified.some((sample) => sample.pixels.length > 0));
    expect(withPixels.map((epoch) => epoch.epoch)).toEqual(Array.from({ length: EPOCHS_WITH_PIXELS }, (_, i) => 30 - EPOCHS_WITH_PIXELS + 1 + i));
    expect(state.epochs[0]!.misclassified[0]!.label).toBe(1); // labels kept
  });

  it('a resumed run counts the training time before the restart', () => {
    const history = fixtureHistory(25); // epoch 2 ends at step 20 with elapsedSeconds 2
    const state = new RunState();
    const restartTime = START_TIME + 60_000;
    state.reset({ ...history, run: runRecord({ resumedFromStep: 25, startTime: restartTime }) });
    // 2 s at the epoch record (step 20, time +2,050 ms) + the steps after it up to step 25 (time +2,500 ms)
    expect(state.progress(restartTime + 1_000).elapsedSeconds).toBeCloseTo(2 + 0.45 + 1, 9);
    // The rate ignores the steps before the restart (their gap to the new ones is downtime).
    expect(state.progress(restartTime + 1_000).etaSeconds).toBeNull();
    const first = { ...stepRecord(26), time: restartTime + 500 };
    const second = { ...stepRecord(27), time: restartTime + 700 };
    state.apply(first);
    state.apply(second);
    const progress = state.progress(restartTime + 1_000);
    expect(progress.imagesPerSecond).toBeCloseTo(32 / 0.2, 9);
    expect(progress.etaSeconds).toBeCloseTo(3 * 0.2, 9); // totalSteps 30
  });
});

describe('estimatePriorSeconds', () => {
  it('without an epoch record: the span of the steps before the restart, plus the first step', () => {
    const steps = [stepRecord(1), stepRecord(2), stepRecord(3), stepRecord(4)];
    expect(estimatePriorSeconds(3, steps, [])).toBeCloseTo((300 - 100 + 100) / 1000, 9);
    expect(estimatePriorSeconds(3, [], [])).toBe(0);
  });
});
