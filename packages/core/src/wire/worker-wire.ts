/**
 * The worker's side of the run's wire codec, in a few calls (the Node worker and the
 * browser-tab worker use it the same way):
 *
 *   const wire = new WorkerWire();
 *   on welcome:   wire.onWelcome(welcome, paramCount)
 *   on step:      const job = wire.onJob(step)          // the job with `params` = the replica's
 *                 answer = engine.step(job)             // (fp32: the message unchanged)
 *                 send(wire.encodeGradient(answer, step))
 *   on evaluate:  engine.evaluate(wire.onJob(evaluate))
 *   on update:    wire.onUpdate(update)                 // applies version-1 -> version
 *
 * In replica runs (bf16, topk) the worker holds the parameters and the optimizer state and
 * applies every broadcast update (replica-kernel.ts: bit-exact WebAssembly, else TypeScript), as the coordinator does; a job
 * that carries `params` also carries the state (a joiner, or a worker the coordinator found
 * out of step) and replaces the replica. Every REPLICA_CHECK_EVERY versions the gradient
 * carries replicaHash() of the parameters it used, so the coordinator can catch drift.
 * Errors carry a `code` (the worker reports them and stops).
 */
import type { EvaluateMessage, GradientMessage, StepMessage, UpdateMessage, WelcomeMessage } from '../protocol/messages.js';
import type { ResolvedOptimizerConfig } from '../optimizers/optimizer.js';
import { REPLICA_CHECK_EVERY, usesReplicas, type WireCodec } from './codecs.js';
import { replicaHash } from './replica.js';
import { createReplicaArrays, type ReplicaArrays } from './replica-kernel.js';
import { scatterInto } from './packed.js';
import { UploadEncoder } from './upload.js';

export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly code: 'STALE_PARAMETERS' | 'BAD_REPLICA',
    message: string,
  ) {
    super(message);
  }
}

const EMPTY = new Float32Array(0);

export class WorkerWire {
  codec: WireCodec = 'fp32';
  /** The replica's parameters and optimizer state, and the code that updates them (replica-kernel.ts). */
  private replica: ReplicaArrays | null = null;
  /** Updates the replica reflects; -1 while it holds nothing. */
  private replicaVersion = -1;
  private upload: UploadEncoder | null = null;
  /**
   * --overlap runs: the version whose lookahead (lookahead.ts) the replica's `ahead` holds, -1
   * for none. The update writes it; a full state with the parameters before it, extrapolate().
   */
  private aheadVersion = -1;

  /** A (new) run: its codec; replica runs also get the optimizer config. Forgets any replica and residual. */
  onWelcome(welcome: WelcomeMessage): void {
    this.codec = welcome.wire ?? 'fp32';
    this.replicaVersion = -1;
    this.aheadVersion = -1;
    this.upload = null;
    this.replica = null;
    if (!usesReplicas(this.codec)) return;
    if (welcome.optimizer === undefined) throw new WireError('BAD_REPLICA', `a ${this.codec} run's welcome must carry the optimizer config`);
    this.replica = createReplicaArrays(welcome.optimizer as unknown as ResolvedOptimizerConfig, welcome.paramCount, { ahead: welcome.overlap === true });
    this.upload = new UploadEncoder(this.codec === 'bf16' ? 'bf16' : 'topk', welcome.paramCount);
  }

  get replicas(): boolean {
    return this.upload !== null;
  }

  /** The version the replica holds (-1: none, or an fp32 run). */
  get version(): number {
    return this.replicaVersion;
  }

  /** The job to compute: in replica runs, with the replica's parameters (after taking any full state it carries). */
  onJob<M extends StepMessage | EvaluateMessage>(message: M): M {
    const replica = this.replica;
    if (replica === null) return message;
    if (message.params !== undefined) {
      if (message.state === undefined || message.iterations === undefined || message.state.length !== replica.state.length) {
        throw new WireError('BAD_REPLICA', `parameters for version ${message.version} came without the optimizer state a replica needs`);
      }
      replica.params.set(message.params);
      message.state.forEach((array, i) => replica.state[i]!.set(array));
      this.replicaVersion = message.version;
      const previous = message.type === 'step' ? message.previousParams : undefined;
      this.aheadVersion = -1;
      if (previous !== undefined && replica.ahead !== null) {
        replica.ahead.set(previous);
        replica.extrapolate();
        this.aheadVersion = message.version;
      }
    } else if (message.version !== this.replicaVersion) {
      throw new WireError('STALE_PARAMETERS', `asked to use parameters version ${message.version}, the replica holds ${this.replicaVersion}`);
    }
    if (message.type === 'step' && message.lookahead === true) return { ...message, params: this.lookahead(message.version, replica) };
    return { ...message, params: replica.params };
  }

  /** A lookahead step's parameters: extrapolated from the replica's version and the one before. */
  private lookahead(version: number, replica: ReplicaArrays): Float32Array {
    if (replica.ahead === null || this.aheadVersion !== version) {
      throw new WireError('BAD_REPLICA', `a lookahead step of version ${version} needs the parameters of version ${version - 1}, which this replica does not hold`);
    }
    return replica.ahead;
  }

  /** A broadcast update: applied when it follows the replica's version (else ignored: a full state will come). */
  onUpdate(message: UpdateMessage): void {
    const replica = this.replica;
    if (replica === null || message.version !== this.replicaVersion + 1 || this.replicaVersion < 0) return;
    if (message.entries === undefined) replica.gradient.set(message.gradient);
    else scatterInto(message.entries, replica.gradient.fill(0));
    replica.apply(message);
    this.replicaVersion = message.version;
    this.aheadVersion = replica.ahead === null ? -1 : message.version;
  }

  /** The answer as the run's codec sends it: packed gradient (and the replica hash when due) in replica runs. */
  encodeGradient(answer: GradientMessage, job: StepMessage): GradientMessage {
    if (this.upload === null) return answer;
    const packed = this.upload.encode(answer.gradient, job.density ?? 1);
    const hash = job.version % REPLICA_CHECK_EVERY === 0 ? { replicaHash: replicaHash(this.replica!.params) } : {};
    return { ...answer, gradient: EMPTY, packed, ...hash };
  }

  /**
   * Test hook (the worker's drift@stepN chaos): moves the first parameters by about 1e-3 of
   * their size. NOTE: not a one-ulp slip: later updates' rounding can absorb that, and the
   * test must see a drift that lasts until the check.
   */
  perturbReplica(): void {
    const params = this.replica?.params ?? EMPTY;
    const count = Math.min(16, params.length);
    for (let i = 0; i < count; i++) params[i] = params[i]! * (1 + 2 ** -10) + 2 ** -20;
  }
}
