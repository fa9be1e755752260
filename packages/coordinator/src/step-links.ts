/**
 * Bytes per step, per worker and in total, for the step records (history.jsonl and the
 * dashboard): each worker connection's counters read when the step's slices are about to go
 * out and again once its update is applied; the difference is the step's traffic on that
 * link (frames only: WebSocket pings and TCP overhead are not counted).
 */
import type { StepLink, StepRecord } from '@convoy/core';
import type { LinkCounters } from './peers.js';
import type { StepObserver } from './step-timing.js';

/** The step record's link fields. */
export type StepLinkFields = Required<Pick<StepRecord, 'bytesDown' | 'bytesUp' | 'links'>>;

/** A worker as this observer needs it (WorkerPeer has both). */
export interface LinkedWorker {
  readonly id: number;
  readonly link: LinkCounters;
}

const NO_TRAFFIC: StepLinkFields = { bytesDown: 0, bytesUp: 0, links: [] };

export class StepLinks implements StepObserver {
  /** Per worker id: its counters when the step started. */
  private before = new Map<number, { readonly bytesOut: number; readonly bytesIn: number }>();
  private last: StepLinkFields = NO_TRAFFIC;

  constructor(private readonly workers: () => Iterable<LinkedWorker>) {}

  stepStarted(): void {
    this.before = new Map();
    for (const { id, link } of this.workers()) this.before.set(id, { bytesOut: link.bytesOut, bytesIn: link.bytesIn });
  }

  stepFinished(): void {
    const links: StepLink[] = [];
    let bytesDown = 0;
    let bytesUp = 0;
    for (const { id, link } of this.workers()) {
      // A worker that joined during the step counts from zero: its welcome is this step's traffic too.
      const start = this.before.get(id) ?? { bytesOut: 0, bytesIn: 0 };
      const down = link.bytesOut - start.bytesOut;
      const up = link.bytesIn - start.bytesIn;
      if (down === 0 && up === 0) continue;
      links.push({ workerId: id, bytesDown: down, bytesUp: up, ...link.figures() });
      bytesDown += down;
      bytesUp += up;
    }
    this.last = { bytesDown, bytesUp, links };
  }

  /** The fields of the step just finished (for its record). */
  fields(): StepLinkFields {
    return this.last;
  }
}
