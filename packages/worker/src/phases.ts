/**
 * What a worker reports of its own steps in each gradient's `phases` (core's WorkerPhases):
 * how long it waited for the step, how long its previous answer took to encode and to be
 * written out, and the process's CPU and memory.
 *
 * NOTE: a frame cannot carry its own encode and send times, so each answer carries its
 * predecessor's; the trace (coordinator timing.ts, `convoy trace`) puts them back on the
 * step they belong to.
 */
import type { WorkerPhases } from '@convoy/core';
import type { SendTiming } from './connection.js';

export class PhaseClock {
  private previousEncodeMs = 0;
  private previousSendMs = 0;
  /** When the previous answer was written out (performance.now()); null before the first. */
  private lastWrittenAt: number | null = null;
  private cpuBefore = process.cpuUsage();
  private cpuSince = performance.now();

  /** The phases of the answer to a step frame that arrived at `arrivedAt` (performance.now()). */
  report(arrivedAt: number): WorkerPhases {
    const now = performance.now();
    // Over the time since the previous report (the first: since the process started).
    const cpu = process.cpuUsage(this.cpuBefore);
    const wallMs = now - this.cpuSince;
    const cpuPercent = wallMs > 0 ? (100 * (cpu.user + cpu.system)) / 1000 / wallMs : 0;
    this.cpuBefore = process.cpuUsage();
    this.cpuSince = now;
    return {
      previousEncodeMs: this.previousEncodeMs,
      previousSendMs: this.previousSendMs,
      // The step may arrive before the previous answer's write is confirmed: then no wait.
      waitMs: this.lastWrittenAt === null ? 0 : Math.max(0, arrivedAt - this.lastWrittenAt),
      cpuPercent: Math.max(0, cpuPercent),
      rssBytes: process.memoryUsage.rss(),
    };
  }

  /** Times one answer's send (pass to Connection.send); `started` is just before its encode. */
  sending(started: number): SendTiming {
    let encodedAt = started;
    return {
      encoded: (at) => {
        encodedAt = at;
        this.previousEncodeMs = at - started;
      },
      written: (at) => {
        this.previousSendMs = Math.max(0, at - encodedAt);
        this.lastWrittenAt = at;
      },
    };
  }
}
