/**
 * Where a worker that owes an answer was last seen, from what the coordinator itself saw of
 * its connection: the step frame still going out ('send'); written out and no ping sent since
 * answered ('compute': a worker computing runs no event loop, so it answers no ping); or a
 * ping sent after the frame answered ('answer': its loop is free, so its answer is in
 * transfer or lost). A deadline miss and a stall name it, so "which worker, doing what" has
 * an answer in the log. NOTE: a ping's send time, not its pong's arrival, is compared: a
 * ping already in flight when the step went out is answered before the worker computes.
 */
import type { Assignment, WorkerPeer } from './peers.js';

export type LastSeenPhase = 'send' | 'compute' | 'answer';

/** The phase, from performance.now() times; `answeredPingAt` is when the last ping it answered was sent. */
export function lastSeenPhase(sentAt: number, writtenAt: number, answeredPingAt: number): LastSeenPhase {
  if (writtenAt < sentAt) return 'send';
  return answeredPingAt > writtenAt ? 'answer' : 'compute';
}

/** One clause for an event's detail, e.g. "last seen in compute (step frame written 3 ms after sending, silent for 812 ms)". */
export function lastSeen(peer: WorkerPeer, assignment: Assignment, now: number): string {
  const silentMs = Math.max(0, Date.now() - peer.link.lastHeard);
  const { writtenAt, answeredPingAt } = peer.link;
  const phase = lastSeenPhase(assignment.sentAt, writtenAt, answeredPingAt);
  switch (phase) {
    case 'send':
      return `last seen in send (its step frame not yet written out after ${Math.round(now - assignment.sentAt)} ms; silent for ${Math.round(silentMs)} ms)`;
    case 'compute':
      return `last seen in compute (step frame written ${Math.round(writtenAt - assignment.sentAt)} ms after sending, silent for ${Math.round(silentMs)} ms)`;
    case 'answer':
      return `last seen in answer (it answered a ping sent after its step frame; heard from ${Math.round(silentMs)} ms ago, its answer not in)`;
    default: {
      const unknown: never = phase;
      throw new Error(`unknown phase ${String(unknown)}`);
    }
  }
}
