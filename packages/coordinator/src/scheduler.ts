/**
 * Hands out one job (a training step's global batch, or an evaluation set) to the live
 * workers and collects the answers, whatever happens to the workers meanwhile.
 *
 * - A step is cut into contiguous slices proportional to measured throughput; an
 *   evaluation is handed out as a queue of chunks (faster workers simply take more).
 * - Each assignment has a deadline. When its worker dies, leaves or misses the deadline,
 *   the range goes back to `pending` and is cut again over the free workers, within the
 *   same job: every image is computed and counted exactly once.
 * - Answers are returned sorted by position, so the caller sums them in slice order
 *   (never arrival order) and the result does not depend on timing.
 * - Speeds are measured here (send to answer), never taken from the worker. Deadlines come
 *   from the median measured speed, not only the worker's own, so a worker cannot stretch
 *   them by answering late. A step's answers are vetted when all are in (answer-checks.ts):
 *   a gradient out of all proportion to the others' is refused and recomputed by others; an
 *   answer far slower than the others' or after 3/4 of its deadline is a strike, as is a
 *   missed deadline. Strikes halve a
 *   worker's slices; STRIKES_TO_EXCLUDE in a row exclude it for a while (a `demotion` event).
 *
 * - --overlap: while a step runs, the next step may run `ahead` of it. Its slices are sent to
 *   workers still computing the current one and queue there (WorkerPeer.queued), so a worker
 *   starts the next slice the moment its answer leaves, without waiting a round trip for it.
 *   A queued slice's deadline runs from when the one before it is answered.
 *
 * The scheduler is the only writer of a worker's work state (WorkerPeer: state, assignments,
 * slice size, rates) and of the parameter version it holds: a job's message carries the
 * parameters exactly when the worker's copy is not the job's version.
 */
import type { EvaluationMessage, GradientMessage, Message, RunEventName } from '@convoy/core';
import { CoordinatorError, type ServerOptions } from './defaults.js';
import { sliceDeadlineMs } from './deadlines.js';
import type { Assignment, WorkerPeer } from './peers.js';
import { NEAR_MISS_FRACTION, OUTLIER_RATIO, RecentScales, gradientOutliers, gradientScale, slowAnswers } from './answer-checks.js';
import { strike } from './demotion.js';
import { lastSeen } from './last-seen.js';
import { evaluationCuts, stepCuts } from './work-cuts.js';

export type Answer = GradientMessage | EvaluationMessage;

export interface Job {
  readonly kind: 'step' | 'evaluate';
  /** Images in the job (positions 0..length-1). */
  readonly length: number;
  /** The training step (for `step` jobs; answers must name it). */
  readonly step: number;
  /**
   * The parameter version the job computes with, read when a slice is sent. A step run ahead
   * (--overlap) reads the coordinator's current version: a slice sent again after the next
   * update computes with that update's parameters.
   */
  readonly version: number;
  /** The message that asks for positions [start, end); with the parameters when `withParams`. */
  message(start: number, end: number, round: number, withParams: boolean): Message;
}

export interface Piece {
  readonly start: number;
  readonly end: number;
  readonly workerId: number;
  /** The parameter version its slice was sent with. */
  readonly version: number;
  readonly answer: Answer;
  readonly roundTripMs: number;
  /** performance.now() when its slice was sent, and when its answer was in (decoded and checked). */
  readonly sentAt: number;
  readonly arrivedAt: number;
  /** gradientScale of a gradient answer (0 for evaluation). */
  readonly scale: number;
}

export interface SchedulerHost {
  workers(): Iterable<WorkerPeer>;
  /** A message, or a frame already encoded (one replica update for every worker). */
  send(peer: WorkerPeer, message: Message | Uint8Array): void;
  event(event: RunEventName, peer: WorkerPeer | null, detail: string): void;
  /** Something in the worker table changed (state, slice). */
  changed(): void;
}

interface ActiveJob {
  /** The scheduler's number of the job (Assignment.job). */
  readonly serial: number;
  readonly job: Job;
  /** Ranges not yet assigned, in position order. */
  pending: [number, number][];
  readonly pieces: Piece[];
  done: number;
  /** Answers refused in this job (bad frame, NaN, wrong count); too many fail the job. */
  rejections: number;
  readonly refusedWorkers: Set<number>;
  /** Workers whose gradient was refused as out of proportion: they compute nothing more of this job while another can. */
  readonly outlierWorkers: Set<number>;
  /** Pieces answered after NEAR_MISS_FRACTION of their deadline. */
  readonly nearMisses: Set<Piece>;
  readonly resolve: (pieces: Piece[] | null) => void;
  readonly reject: (error: Error) => void;
}

/** Refused answers tolerated per job before it fails (a diverged model sends NaN from every worker, forever). */
const MAX_REJECTIONS = 3;

type Timing = Pick<ServerOptions, 'deadlineMinMs' | 'deadlineFactor' | 'deadlineFirstMs' | 'evaluateChunk'>;

export class Scheduler {
  private active: ActiveJob | null = null;
  /** --overlap: the next step, sent out while `active` runs; it becomes `active` when that one is done. */
  private ahead: ActiveJob | null = null;
  private nextRound = 1;
  private nextSerial = 1;
  /** Answers that arrived for an abandoned assignment (too late) and were ignored. */
  lateAnswers = 0;
  /** The gradient scale of recent steps: the reference for refusing an outlier when a step has too few slices to compare. */
  private readonly recentScales = new RecentScales();

  constructor(
    private readonly host: SchedulerHost,
    private readonly timing: Timing,
  ) {}

  /** A worker finished its handshake: it is idle and may take work at once. */
  join(peer: WorkerPeer): void {
    if (peer.state !== 'joining') return;
    peer.state = 'idle';
    this.dispatch();
  }

  /** Runs one job to completion; resolves with every piece, sorted by position (null when cancelled). */
  run(job: Job): Promise<Piece[] | null> {
    if (this.active !== null || this.ahead !== null) throw new Error('Scheduler.run: a job is already running');
    return this.start(job, 'active');
  }

  /**
   * --overlap: runs step `job` while the current step runs (or at once when none does),
   * queueing its slices behind the current ones. Resolves as run() does.
   */
  runAhead(job: Job): Promise<Piece[] | null> {
    if (this.ahead !== null || job.kind !== 'step' || this.active?.job.kind === 'evaluate') throw new Error('Scheduler.runAhead: only one step runs ahead of another');
    return this.start(job, this.active === null ? 'active' : 'ahead');
  }

  private start(job: Job, slot: 'active' | 'ahead'): Promise<Piece[] | null> {
    return new Promise((resolve, reject) => {
      if (job.length === 0) return resolve([]);
      const serial = this.nextSerial++;
      this[slot] = { serial, job, pending: [[0, job.length]], pieces: [], done: 0, rejections: 0, refusedWorkers: new Set(), outlierWorkers: new Set(), nearMisses: new Set(), resolve, reject };
      this.dispatch();
    });
  }

  /**
   * Abandons the jobs in progress (the run is stopping and cannot finish them, e.g. no worker
   * is left): run() resolves with null and late answers are ignored.
   */
  cancel(): void {
    const jobs = [this.active, this.ahead].filter((job) => job !== null);
    if (jobs.length === 0) return;
    this.active = null;
    this.ahead = null;
    for (const peer of this.host.workers()) {
      const assignment = peer.assignment;
      if (assignment === null) continue;
      // A stall: the run stops while this worker still owes its slice; say where it was last seen.
      if (!assignment.abandoned) this.host.event('stall', peer, `stopping without its answer for ${assignment.end - assignment.start} images; ${lastSeen(peer, assignment, performance.now())}`);
      assignment.abandoned = true;
      if (peer.queued !== null) peer.queued.abandoned = true;
    }
    for (const job of jobs) job.resolve(null);
  }

  /**
   * The run stops at a step boundary with a step sent ahead (--overlap), current by now or still
   * queued: it is dropped without a stall event (nothing is owed), and its late answers ignored.
   */
  dropSteps(): void {
    const jobs = [this.active, this.ahead].filter((job): job is ActiveJob => job !== null && job.job.kind === 'step');
    for (const job of jobs) this.finish(job);
    for (const peer of this.host.workers()) {
      for (const assignment of [peer.assignment, peer.queued]) if (assignment !== null && jobs.some((job) => job.serial === assignment.job)) assignment.abandoned = true;
    }
    for (const job of jobs) job.resolve(null);
    this.dispatch();
  }

  /** The job an assignment belongs to, while it runs. */
  private jobOf(assignment: Assignment): ActiveJob | null {
    for (const job of [this.active, this.ahead]) if (job !== null && job.serial === assignment.job) return job;
    return null;
  }

  /**
   * Assigns pending ranges to free workers: the current job's to idle ones, the step run ahead's
   * also to busy ones, queued behind their slice. Called on every change that may free one.
   */
  dispatch(): void {
    if (this.active === null && this.ahead === null) return;
    if (this.active !== null) this.dispatchJob(this.active, (peer) => peer.free);
    const ahead = this.ahead;
    // NOTE: not behind an abandoned slice: a worker that missed its deadline may never answer it.
    if (ahead !== null) this.dispatchJob(ahead, (peer) => peer.canQueue && peer.assignment?.abandoned !== true && !this.holds(peer, ahead));
    this.host.changed();
  }

  /** Whether `peer` computes or queues a slice of `job` (a worker takes one slice of a step run ahead at a time). */
  private holds(peer: WorkerPeer, job: ActiveJob): boolean {
    return peer.assignment?.job === job.serial || peer.queued?.job === job.serial;
  }

  private dispatchJob(active: ActiveJob, takes: (peer: WorkerPeer) => boolean): void {
    // A worker whose gradient was refused as an outlier computes none of this job again, while another can.
    const others = [...this.host.workers()].some((peer) => peer.live && !peer.excluded && !active.outlierWorkers.has(peer.id));
    while (active.pending.length > 0) {
      const free = [...this.host.workers()].filter((peer) => takes(peer) && !(others && active.outlierWorkers.has(peer.id)));
      if (free.length === 0) break;
      const [start, end] = active.pending.shift()!;
      if (active.job.kind === 'step') {
        for (const cut of stepCuts(start, end, free)) this.assign(active, cut.peer, cut.start, cut.end);
      } else {
        const cuts = evaluationCuts(start, end, free, this.timing.evaluateChunk);
        for (const cut of cuts) this.assign(active, cut.peer, cut.start, cut.end);
        const position = cuts.length === 0 ? start : cuts[cuts.length - 1]!.end;
        if (position < end) active.pending.unshift([position, end]);
      }
    }
  }

  private assign(active: ActiveJob, peer: WorkerPeer, start: number, end: number): void {
    const round = this.nextRound++;
    const count = end - start;
    const deadlineMs = this.deadline(peer, count);
    const firstDeadline = deadlineMs === this.timing.deadlineFirstMs && peer.rate === 0;
    const version = active.job.version;
    const assignment: Assignment = { round, job: active.serial, version, start, end, sentAt: performance.now(), deadlineMs, firstDeadline, abandoned: false, timer: null };
    if (peer.assignment === null) {
      peer.assignment = assignment;
      this.arm(peer, assignment);
    } else peer.queued = assignment;
    peer.state = 'computing';
    peer.sliceSize = count;
    const withParams = peer.version !== version;
    peer.version = version;
    this.host.send(peer, active.job.message(start, end, round, withParams));
  }

  /** The worker's front assignment is answered (or dropped): its queued one moves up and its deadline starts now. */
  private promote(peer: WorkerPeer): void {
    peer.assignment = peer.queued;
    peer.queued = null;
    const next = peer.assignment;
    if (next !== null && !next.abandoned) {
      next.sentAt = performance.now();
      next.deadlineMs = this.deadline(peer, next.end - next.start);
      this.arm(peer, next);
    }
    if (peer.live) peer.state = next === null ? 'idle' : 'computing';
  }

  /** The deadline rule lives in deadlines.ts; here it reads the live workers. */
  private deadline(peer: WorkerPeer, count: number): number {
    return sliceDeadlineMs(this.timing, this.host.workers(), peer, count);
  }

  private arm(peer: WorkerPeer, assignment: Assignment): void {
    if (assignment.timer !== null) clearTimeout(assignment.timer);
    const left = Math.max(0, assignment.sentAt + assignment.deadlineMs - performance.now());
    assignment.timer = setTimeout(() => this.missed(peer, assignment), left);
  }

  /**
   * A worker was just measured: outstanding first deadlines (given while nothing was measured,
   * deadlineFirstMs) shrink to what the measured speeds allow, so a worker that joined and
   * never answers delays the first step by at most that, not by deadlineFirstMs.
   */
  private shortenFirstDeadlines(): void {
    for (const peer of this.host.workers()) {
      const assignment = peer.assignment;
      if (assignment === null || !assignment.firstDeadline || assignment.abandoned) continue;
      const deadlineMs = this.deadline(peer, assignment.end - assignment.start);
      if (deadlineMs >= assignment.deadlineMs) continue;
      assignment.deadlineMs = deadlineMs;
      this.arm(peer, assignment);
    }
  }

  /** An answer from `peer`. Returns an error text when the answer does not fit its assignment. */
  answer(peer: WorkerPeer, answer: Answer): string | null {
    const assignment = peer.assignment;
    if (assignment === null || assignment.round !== answer.round) {
      return `answer to round ${answer.round}, which is not the round assigned to this worker`;
    }
    if (assignment.timer !== null) clearTimeout(assignment.timer);
    this.promote(peer);
    const active = this.jobOf(assignment);
    if (assignment.abandoned || active === null) {
      // Its range was recomputed by others: drop the late answer, keep the worker.
      this.lateAnswers++;
      this.dispatch();
      return null;
    }
    const count = assignment.end - assignment.start;
    const expectedType = active.job.kind === 'step' ? 'gradient' : 'evaluation';
    let problem: string | null = null;
    if (answer.type !== expectedType) problem = `expected a ${expectedType} answer, got ${answer.type}`;
    else if (answer.count !== count) problem = `answer counts ${answer.count} images, the slice has ${count}`;
    else if (answer.type === 'gradient' && answer.step !== active.job.step) problem = `answer for step ${answer.step}, the step is ${active.job.step}`;
    if (problem !== null) {
      this.requeue(active, assignment);
      this.countRejection(active, peer, problem);
      return problem;
    }
    const arrivedAt = performance.now();
    const roundTripMs = arrivedAt - assignment.sentAt;
    // Throughput is measured on training slices only: forward-only evaluation runs ~3x faster and would inflate it.
    if (active.job.kind === 'step') {
      peer.measured(count, roundTripMs);
      this.shortenFirstDeadlines();
    }
    const scale = answer.type === 'gradient' ? gradientScale(answer.entries?.values ?? answer.gradient, count) : 0;
    const piece: Piece = { start: assignment.start, end: assignment.end, workerId: peer.id, version: assignment.version, answer, roundTripMs, sentAt: assignment.sentAt, arrivedAt, scale };
    active.pieces.push(piece);
    if (roundTripMs > NEAR_MISS_FRACTION * assignment.deadlineMs) active.nearMisses.add(piece);
    active.done += count;
    if (active.done === active.job.length) {
      if (active.job.kind === 'step' && !this.vetStep(active)) return null;
      this.finish(active);
      active.pieces.sort((a, b) => a.start - b.start);
      active.resolve(active.pieces);
      // The workers' states changed (idle now, or computing a step run ahead).
      this.host.changed();
    }
    this.dispatch();
    return null;
  }

  /** `job` is done (or failed): a step run ahead becomes the current job. */
  private finish(job: ActiveJob): void {
    if (this.active === job) {
      this.active = this.ahead;
      this.ahead = null;
    } else if (this.ahead === job) this.ahead = null;
  }

  /**
   * The peer sent a frame that failed validation (a NaN in its gradient, a wrong length...):
   * its range goes to the others at once instead of waiting for the deadline, and any later
   * answer to that assignment is refused as not the round assigned.
   */
  rejected(peer: WorkerPeer): void {
    const assignment = peer.assignment;
    if (assignment === null) return;
    if (assignment.timer !== null) clearTimeout(assignment.timer);
    this.promote(peer);
    const active = this.jobOf(assignment);
    if (assignment.abandoned || active === null) return this.dispatch();
    this.requeue(active, assignment);
    this.countRejection(active, peer, 'an invalid frame');
  }

  /**
   * Counts a refused answer. The job fails only when every live worker has had answers
   * refused (MAX_REJECTIONS in all): that is a diverged model (NaN everywhere), which would
   * otherwise be recomputed forever. One bad worker among good ones never fails the job.
   */
  private countRejection(active: ActiveJob, peer: WorkerPeer, reason: string): void {
    active.rejections++;
    active.refusedWorkers.add(peer.id);
    const everyone = [...this.host.workers()].filter((other) => other.live).every((other) => active.refusedWorkers.has(other.id));
    if (active.rejections < MAX_REJECTIONS || !everyone) {
      this.dispatch();
      return;
    }
    const what = active.job.kind === 'step' ? `step ${active.job.step}` : 'the evaluation';
    const error = new CoordinatorError(
      'BAD_ANSWERS',
      `${what}: ${active.rejections} answers refused (last from worker ${peer.id}: ${reason}); a diverging model sends NaN or Infinity: try a lower --lr`,
    );
    // The run fails: a step run ahead fails with it (the trainer reads its error in order).
    const jobs = [this.active, this.ahead].filter((job) => job !== null);
    this.active = null;
    this.ahead = null;
    for (const other of this.host.workers()) {
      for (const assignment of [other.assignment, other.queued]) if (assignment !== null) assignment.abandoned = true;
    }
    for (const job of jobs) job.reject(error);
  }

  /**
   * A step's answers are all in: refuses gradients out of proportion to the others' (their
   * ranges go back to pending, for other workers; false: the step goes on), then counts a
   * strike for each answer far slower than the others' and clears the strikes of the rest.
   */
  private vetStep(active: ActiveJob): boolean {
    const pieces = active.pieces;
    const { outliers, reference } = gradientOutliers(pieces.map((piece) => piece.scale), this.recentScales.reference);
    if (outliers.length > 0) {
      for (const i of [...outliers].reverse()) {
        const [piece] = pieces.splice(i, 1) as [Piece];
        const peer = this.peer(piece.workerId);
        active.done -= piece.end - piece.start;
        this.requeue(active, piece);
        const detail =
          `gradient for ${piece.end - piece.start} images refused: its size ${piece.scale.toExponential(2)} per image is over ` +
          `${OUTLIER_RATIO}x the others' (${reference.toExponential(2)}); recomputed by other workers`;
        this.host.event('refused-answer', peer, detail);
        if (peer !== null) {
          active.outlierWorkers.add(peer.id);
          this.strike(peer, 'refused gradients');
          this.countRejection(active, peer, 'a gradient out of proportion to the others');
        } else this.dispatch();
        // countRejection may have failed the job (every live worker refused): stop here.
        if (this.active !== active && this.ahead !== active) return false;
      }
      return false;
    }
    const slow = new Set(slowAnswers(pieces.map((piece) => piece.roundTripMs)));
    pieces.forEach((piece, i) => active.nearMisses.has(piece) && slow.add(i));
    const struck = new Set<number>();
    pieces.forEach((piece, i) => {
      const peer = this.peer(piece.workerId);
      if (peer === null || !slow.has(i) || struck.has(peer.id)) return;
      struck.add(peer.id);
      this.strike(peer, 'slow answers');
    });
    for (const piece of pieces) {
      const peer = this.peer(piece.workerId);
      if (peer !== null && !struck.has(peer.id)) peer.strikes = 0;
    }
    const scales = pieces.map((piece) => piece.scale);
    this.recentScales.push([...scales].sort((a, b) => a - b)[Math.floor((scales.length - 1) / 2)]!);
    return true;
  }

  private strike(peer: WorkerPeer, what: string): void {
    strike(peer, what, this.host, () => this.dispatch());
  }

  private peer(id: number): WorkerPeer | null {
    for (const peer of this.host.workers()) if (peer.id === id) return peer;
    return null;
  }

  /**
   * Replica runs: `frame` (an encoded `update` to `version`) goes to every live worker whose
   * replica holds version - 1, which then holds `version`; a worker at any other version is
   * left out and gets the full state with its next job. Returns how many were sent.
   */
  broadcast(version: number, frame: Uint8Array): number {
    let sent = 0;
    for (const peer of this.host.workers()) {
      if (!peer.live || peer.version !== version - 1) continue;
      this.host.send(peer, frame);
      peer.version = version;
      sent++;
    }
    return sent;
  }

  /** A worker's replica is not what its version says (the drift check): its next job carries the full state. */
  resync(workerId: number): void {
    const peer = this.peer(workerId);
    if (peer !== null) peer.version = -1;
  }

  /** The peer is gone (closed, died, left): its ranges, if any, go to the others. */
  lost(peer: WorkerPeer): void {
    peer.state = 'gone';
    const owed = [peer.assignment, peer.queued];
    peer.assignment = null;
    peer.queued = null;
    for (const assignment of owed) {
      if (assignment === null) continue;
      if (assignment.timer !== null) clearTimeout(assignment.timer);
      this.takeBack(assignment);
    }
    this.dispatch();
  }

  private missed(peer: WorkerPeer, assignment: Assignment): void {
    assignment.timer = null;
    const active = this.jobOf(assignment);
    if (peer.assignment !== assignment || active === null) return;
    this.host.event('deadline-miss', peer, `no answer for ${assignment.end - assignment.start} images within ${Math.round(assignment.deadlineMs)} ms; ${lastSeen(peer, assignment, performance.now())}`);
    this.takeBack(assignment);
    // Queued behind a slice it does not answer, the next one would wait with no deadline.
    if (peer.queued !== null) this.takeBack(peer.queued);
    this.strike(peer, 'missed deadlines');
    this.dispatch();
  }

  /** An assignment's range goes back to its job's pending ranges (for others); a late answer to it is ignored. */
  private takeBack(assignment: Assignment): void {
    const job = this.jobOf(assignment);
    if (!assignment.abandoned && job !== null) this.requeue(job, assignment);
    assignment.abandoned = true;
  }

  private requeue(active: ActiveJob, range: { readonly start: number; readonly end: number }): void {
    active.pending.push([range.start, range.end]);
    active.pending.sort((a, b) => a[0] - b[0]);
  }
}
