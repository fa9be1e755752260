import { describe, expect, it } from 'vitest';
import { learningRateSchedule, type ScheduleSettings } from './schedule.js';

const step: ScheduleSettings = { lrSchedule: 'step', lrDecay: 0.5, lrDecayEvery: 2, epochs: 5 };
const cosine: ScheduleSettings = { lrSchedule: 'cosine', lrDecay: 0.7, lrDecayEvery: 1, epochs: 2 };

describe('learningRateSchedule', () => {
  it('step: 0.4 x 0.5^floor(epoch / 2), the same for every step of an epoch', () => {
    const rateAt = learningRateSchedule(0.4, step, 10);
    const rates = [0, 1, 2, 3, 4].map((epoch) => rateAt({ stepsDone: epoch * 10 + 7, epoch }));
    expect(rates).toEqual([0.4, 0.4, 0.2, 0.2, 0.1]);
    expect(rateAt({ stepsDone: 20, epoch: 2 })).toBe(rateAt({ stepsDone: 29, epoch: 2 }));
  });

  it('cosine over 2 epochs x 4 steps: 1, (1 + cos(pi/8))/2, ..., 1/2 at the middle, (1 + cos(7pi/8))/2 at the last step', () => {
    const rateAt = learningRateSchedule(1, cosine, 4);
    const rates = [0, 1, 2, 3, 4, 5, 6, 7].map((stepsDone) => rateAt({ stepsDone, epoch: Math.floor(stepsDone / 4) }));
    // cos(pi/8) = sqrt(2 + sqrt(2)) / 2 and cos(pi/4) = sqrt(2) / 2, written out independently of the code's formula.
    const cosPi8 = Math.sqrt(2 + Math.SQRT2) / 2;
    const expected = [1, (1 + cosPi8) / 2, (1 + Math.SQRT1_2) / 2, (1 + Math.sqrt(2 - Math.SQRT2) / 2) / 2, 0.5, (1 - Math.sqrt(2 - Math.SQRT2) / 2) / 2, (1 - Math.SQRT1_2) / 2, (1 - cosPi8) / 2];
    rates.forEach((rate, index) => expect(rate).toBeCloseTo(expected[index]!, 12));
    // Every planned step's rate is above 0 (a zero rate would waste the last step) and falls step by step.
    expect(rates.every((rate, index) => rate > 0 && (index === 0 || rate < rates[index - 1]!))).toBe(true);
  });

  it('cosine ignores lrDecay and lrDecayEvery, and stays at its end past the planned steps', () => {
    const rateAt = learningRateSchedule(1, cosine, 4);
    const other = learningRateSchedule(1, { ...cosine, lrDecay: 0.1, lrDecayEvery: 3 }, 4);
    expect(other({ stepsDone: 3, epoch: 0 })).toBe(rateAt({ stepsDone: 3, epoch: 0 }));
    expect(rateAt({ stepsDone: 8, epoch: 2 })).toBe(0);
    expect(rateAt({ stepsDone: 12, epoch: 3 })).toBe(0);
  });
});
