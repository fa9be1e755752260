/**
 * Where a worker that owes an answer was last seen, from what the coordinator itself saw of
 * its connection: the step frame still going out ('send'), written out and nothing heard
 * since ('compute': a worker computing runs no event loop, so it answers no ping), or heard
 * from since but no answer in ('answer': alive, its answer in transfer or lost). A deadline
 * miss and a stall name it, so "which worker, doing what" has an answer in the log.
 */
import type { Assignment, WorkerPeer } from './peers.js';

export type LastSeenPhase = 'send' | 'compute' | 'answer';

/** The phase, from performance.now() times; `heardAt` is performance.now() of the last frame or pong. */
export function lastSeenPhase(sentAt: number, writtenAt: number, heardAt: number): LastSeenPhase {
  if (writtenAt < sentAt) return 'send';
  return heardAt > writtenAt ? 'answer' : 'compute';
}

/** One clause for an event's detail, e.g. "last seen in compute (step frame written 3 ms after sending, silent for 812 ms)". */
export function lastSeen(peer: WorkerPeer, assignment: Assignment, now: number): string {
  // lastHeard is Date.now(); moved onto the performance.now() clock with the offset of this moment.
  const silentMs = Math.max(0, Date.now() - peer.link.lastHeard);
  const heardAt = now - silentMs;
  const { writtenAt } = peer.link;
  const phase = lastSeenPhase(assignment.sentAt, writtenAt, heardAt);
  switch (phase) {
    case 'send':
      return `last seen in send (its step frame not yet written out after ${Math.round(now - assignment.sentAt)} ms; silent for ${Math.round(silentMs)} ms)`;
    case 'compute':
      return `last seen in compute (step frame written ${Math.round(writtenAt - assignment.sentAt)} ms after sending, silent for ${Math.round(silentMs)} ms)`;
    case 'answer':
      return `last seen in answer (heard from ${Math.round(silentMs)} ms ago, its answer not in)`;
    default: {
      const unknown: never = phase;
      throw new Error(`unknown phase ${String(unknown)}`);
    }
  }
}
