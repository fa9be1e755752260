/**
 * Watching training steps from outside the loop: the trainer reports each step to its
 * observers, and StepTimer turns those reports into the time split that bench/scale.ts and
 * tests/hardening/load-run.ts print (the 'timing' event).
 */
import { EventEmitter } from 'node:events';
import type { Piece } from './scheduler.js';
import type { TransportCounters } from './connection.js';

/** What the trainer tells observers about one finished step (times from performance.now()). */
export interface StepReport {
  readonly step: number;
  readonly images: number;
  /** The answers, in slice order. */
  readonly pieces: readonly Piece[];
  readonly startedAt: number;
  /** Every answer is in. */
  readonly gatheredAt: number;
  /** The gradients are summed. */
  readonly summedAt: number;
  /** The optimizer has applied the mean. */
  readonly appliedAt: number;
  /** The step record is published (history.jsonl written, dashboards' frames queued). */
  readonly publishedAt: number;
}

export interface StepObserver {
  /** Called just before the step's slices go out. */
  stepStarted(step: number): void;
  stepFinished(report: StepReport): void;
}

/** One step's time split (milliseconds; bytes). */
export interface StepTiming {
  readonly step: number;
  readonly images: number;
  readonly workers: number;
  readonly stepMs: number;
  /** Longest worker compute (it sets the step's pace), the mean over the answers, and the mean of the workers' frame decode. */
  readonly computeMs: number;
  readonly meanComputeMs: number;
  readonly workerDecodeMs: number;
  /** Coordinator: encoding step frames, decoding+validating answers, summing, optimizer. */
  readonly encodeMs: number;
  readonly decodeMs: number;
  readonly sumMs: number;
  readonly optimizerMs: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
}

export interface StepTimerEvents {
  timing: [StepTiming];
}

/** Emits a 'timing' event per step, from the step reports and the transport's counters. */
export class StepTimer extends EventEmitter<StepTimerEvents> implements StepObserver {
  private before: TransportCounters | null = null;

  constructor(private readonly counters: () => TransportCounters) {
    super();
  }

  stepStarted(): void {
    this.before = this.counters();
  }

  stepFinished(report: StepReport): void {
    const before = this.before ?? this.counters();
    const after = this.counters();
    const { pieces } = report;
    let computeMs = 0;
    let meanComputeMs = 0;
    let workerDecodeMs = 0;
    for (const { answer } of pieces) {
      computeMs = Math.max(computeMs, answer.computeMs);
      meanComputeMs += answer.computeMs / pieces.length;
      if (answer.type === 'gradient') workerDecodeMs += answer.decodeMs / pieces.length;
    }
    this.emit('timing', {
      step: report.step,
      images: report.images,
      workers: new Set(pieces.map((piece) => piece.workerId)).size,
      stepMs: report.appliedAt - report.startedAt,
      computeMs,
      meanComputeMs,
      workerDecodeMs,
      encodeMs: after.encodeMs - before.encodeMs,
      decodeMs: after.decodeMs - before.decodeMs,
      sumMs: report.summedAt - report.gatheredAt,
      optimizerMs: report.appliedAt - report.summedAt,
      bytesOut: after.bytesOut - before.bytesOut,
      bytesIn: after.bytesIn - before.bytesIn,
    });
  }
}
