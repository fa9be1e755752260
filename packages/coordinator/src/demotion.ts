/**
 * Demotion of a worker that keeps failing its work: a missed deadline, a refused gradient or
 * an answer far slower than the step's others is a strike. Each strike halves the worker's
 * measured rate (so its next slices shrink); STRIKES_TO_EXCLUDE in a row exclude it from
 * work for a while, twice as long each time, unless it is the last worker that could compute.
 */
import type { WorkerPeer } from './peers.js';
import type { SchedulerHost } from './scheduler.js';

/** Strikes in a row that exclude a worker for a while. */
export const STRIKES_TO_EXCLUDE = 3;
/** The first exclusion lasts this long (ms); each next one twice the one before, up to EXCLUSION_MAX_MS. */
export const EXCLUSION_FIRST_MS = 10_000;
const EXCLUSION_MAX_MS = 600_000;

/** Counts a strike against `peer` (`what`: "missed deadlines", ...); `dispatch` hands out work again when an exclusion ends. */
export function strike(peer: WorkerPeer, what: string, host: SchedulerHost, dispatch: () => void): void {
  peer.penalise();
  peer.strikes++;
  if (peer.strikes < STRIKES_TO_EXCLUDE) return;
  const others = [...host.workers()].some((other) => other !== peer && other.live && !other.excluded);
  if (!others) return;
  // One more strike after it comes back excludes it again (for twice as long).
  peer.strikes = STRIKES_TO_EXCLUDE - 1;
  const ms = Math.min(EXCLUSION_MAX_MS, EXCLUSION_FIRST_MS * 2 ** peer.exclusions++);
  peer.excluded = true;
  host.event('demotion', peer, `${what}, ${STRIKES_TO_EXCLUDE} strikes in a row: given no work for ${ms / 1000} s`);
  host.changed();
  setTimeout(() => {
    peer.excluded = false;
    host.changed();
    dispatch();
  }, ms).unref();
}
