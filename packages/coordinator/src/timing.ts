/**
 * Each step's timeline as a `timing` record (core's TimingRecord): the coordinator's phases
 * (wait for every answer, sum, optimizer, publish) and each answer's times. A StepObserver
 * of the trainer; the records go out through the metrics hub to dashboards, and coordinator.ts
 * writes them to trace.jsonl (trace-file.ts), never to history.jsonl.
 */
import type { TimingRecord } from '@convoy/core';
import type { StepObserver, StepReport } from './step-timing.js';

/** The record of one finished step (times from the report, ms from the step's start). */
export function timingRecord(report: StepReport): TimingRecord {
  const { startedAt } = report;
  return {
    kind: 'timing',
    step: report.step,
    // performance.now() is ms since timeOrigin: this is the step's start as a Unix time, to the microsecond.
    startTime: performance.timeOrigin + startedAt,
    stepMs: report.publishedAt - startedAt,
    waitMs: report.gatheredAt - startedAt,
    sumMs: report.summedAt - report.gatheredAt,
    optimizerMs: report.appliedAt - report.summedAt,
    publishMs: report.publishedAt - report.appliedAt,
    workers: report.pieces.map((piece) => {
      const answer = piece.answer;
      const gradient = answer.type === 'gradient' ? answer : null;
      return {
        workerId: piece.workerId,
        images: piece.end - piece.start,
        sentMs: Math.max(0, piece.sentAt - startedAt),
        arrivedMs: Math.max(0, piece.arrivedAt - startedAt),
        decodeMs: gradient?.decodeMs ?? 0,
        computeMs: answer.computeMs,
        phases: gradient?.phases ?? null,
      };
    }),
  };
}

/** Hands every step's timing record to `publish`. */
export class StepTimeline implements StepObserver {
  constructor(private readonly publish: (record: TimingRecord) => void) {}

  stepStarted(): void {}

  stepFinished(report: StepReport): void {
    this.publish(timingRecord(report));
  }
}
