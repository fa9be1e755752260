/**
 * How the scheduler cuts a pending range over the free workers: a step in contiguous slices
 * proportional to measured throughput, an evaluation as a queue of fixed chunks (faster
 * workers simply come back for more). scheduler.ts assigns the cuts and arms their deadlines.
 */
import type { WorkerPeer } from './peers.js';
import { proportionalSlices } from './slices.js';

/**
 * A measured worker's rate counts as at least this fraction of the fastest free worker's when
 * a step is cut: a slow first answer (a joiner's start-up) or a strike must not starve it of
 * work for good, or it would never be measured again. A worker that stays slow is excluded by
 * its strikes instead (demotion.ts).
 */
const SMALLEST_SHARE = 1 / 16;

/** Positions [start, end) for `peer`. */
export interface Cut {
  readonly peer: WorkerPeer;
  readonly start: number;
  readonly end: number;
}

/** A step's range [start, end), all of it, cut over `free` (not empty) by shareRates. */
export function stepCuts(start: number, end: number, free: readonly WorkerPeer[]): Cut[] {
  return proportionalSlices(start, end, shareRates(free)).map((slice) => ({ peer: free[slice.worker]!, start: slice.start, end: slice.end }));
}

/** An evaluation range [start, end): one chunk of at most `chunk` images per free worker, in position order; what is left stays queued. */
export function evaluationCuts(start: number, end: number, free: readonly WorkerPeer[], chunk: number): Cut[] {
  const cuts: Cut[] = [];
  let position = start;
  for (const peer of free) {
    if (position === end) break;
    const chunkEnd = Math.min(end, position + chunk);
    cuts.push({ peer, start: position, end: chunkEnd });
    position = chunkEnd;
  }
  return cuts;
}

/** The rates a step is cut by: each measured one at least SMALLEST_SHARE of the fastest (0 = unmeasured stays 0). */
function shareRates(peers: readonly WorkerPeer[]): number[] {
  const fastest = Math.max(0, ...peers.map((peer) => peer.rate));
  return peers.map((peer) => (peer.rate > 0 ? Math.max(peer.rate, SMALLEST_SHARE * fastest) : 0));
}
