/**
 * The learning-rate schedules of `--lr-schedule`: the rate of each global step, from the
 * run's initial rate.
 * - step: initialRate x lrDecay ^ floor(epoch / lrDecayEvery) (core's stepDecay), constant
 *   within an epoch.
 * - cosine: initialRate x (1 + cos(pi x t / T)) / 2 for the step that follows t steps done,
 *   T = the run's steps over all its epochs (Loshchilov & Hutter, "SGDR", 2017, without
 *   restarts). It changes every step and ends near 0, which settles a short run's last
 *   epoch without a factor to tune.
 */
import { stepDecay } from '@convoy/core';

export const LR_SCHEDULES = ['step', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export function isLrSchedule(value: unknown): value is LrSchedule {
  return (LR_SCHEDULES as readonly unknown[]).includes(value);
}

export interface ScheduleSettings {
  readonly lrSchedule: LrSchedule;
  readonly lrDecay: number;
  readonly lrDecayEvery: number;
  readonly epochs: number;
}

/** Where the run stands when a step starts: `stepsDone` global steps done, in 0-based `epoch`. */
export interface SchedulePosition {
  readonly stepsDone: number;
  readonly epoch: number;
}

/**
 * The rate of the step at `position`. NOTE: cosine's length is `epochs x stepsPerEpoch`, so
 * growing --epochs on --resume stretches the rest of the curve (the rate jumps up once).
 */
export function learningRateSchedule(initialRate: number, settings: ScheduleSettings, stepsPerEpoch: number): (position: SchedulePosition) => number {
  const schedule = settings.lrSchedule;
  switch (schedule) {
    case 'step': {
      const rateOf = stepDecay(initialRate, settings.lrDecay, settings.lrDecayEvery);
      return (position) => rateOf(position.epoch);
    }
    case 'cosine': {
      const totalSteps = Math.max(1, settings.epochs * stepsPerEpoch);
      return (position) => (initialRate * (1 + Math.cos((Math.PI * Math.min(position.stepsDone, totalSteps)) / totalSteps))) / 2;
    }
    default: {
      const unknown: never = schedule;
      throw new Error(`unknown learning-rate schedule ${String(unknown)}`);
    }
  }
}
