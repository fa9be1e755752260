/**
 * How long a worker gets to answer a slice: the one rule the scheduler arms its timers with
 * (scheduler.ts), kept apart so it reads (and changes) on its own.
 */
import type { ServerOptions } from './defaults.js';
import type { WorkerPeer } from './peers.js';

export type DeadlineTiming = Pick<ServerOptions, 'deadlineMinMs' | 'deadlineFactor' | 'deadlineFirstMs'>;

/**
 * The time (ms) `peer` gets for `count` images: deadlineFactor times what it should take at the
 * faster of its own measured rate and the median of the live `workers`' (so answering late
 * does not lengthen its next deadline), never below deadlineMinMs nor above deadlineFirstMs.
 * deadlineFirstMs while no worker is measured.
 */
export function sliceDeadlineMs(timing: DeadlineTiming, workers: Iterable<WorkerPeer>, peer: WorkerPeer, count: number): number {
  const rates = [...workers].filter((other) => other.live && other.rate > 0).map((other) => other.rate);
  rates.sort((a, b) => a - b);
  const median = rates.length === 0 ? 0 : rates[Math.floor(rates.length / 2)]!;
  const rate = Math.max(peer.rate, median);
  if (rate === 0) return timing.deadlineFirstMs;
  const expected = (timing.deadlineFactor * 1000 * count) / rate;
  return Math.max(timing.deadlineMinMs, Math.min(timing.deadlineFirstMs, expected));
}
