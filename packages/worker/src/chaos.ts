/**
 * Fault injection for tests and demos: `--chaos "kill@step20,pause@step40:5s"` makes this
 * worker misbehave once, when the named step first reaches it. (`convoy start --chaos
 * "kill:worker1@step20"` hands each local worker its part.)
 *
 *   kill@stepN        SIGKILL itself instead of answering step N
 *   exit@stepN        leave cleanly (the Ctrl-C path: a `leave` message, exit 0)
 *   pause@stepN:5s    SIGSTOP itself for the duration (a child process sends SIGCONT), then answer late
 *   cut@stepN         send half of the answer's frame and drop the TCP connection (then reconnect)
 *   double@stepN      answer step N twice
 *   stale@stepN       answer step N normally, then send that answer again before step N+1's
 *   nan@stepN         answer step N with a NaN in the gradient (the coordinator must refuse it)
 *   thread-exit@stepN the last compute thread exits instead of computing step N (--threads 2 or more)
 *   drift@stepN       replica runs (--wire bf16/topk): move the replica's first parameters before
 *                     computing step N (the coordinator's drift check must catch and repair it)
 */
import { spawn } from 'node:child_process';
import { PACKED_FORMAT, type GradientMessage, type Message } from '@convoy/core';
import { WorkerError } from './errors.js';

export type ChaosKind = 'kill' | 'exit' | 'pause' | 'cut' | 'double' | 'stale' | 'nan' | 'thread-exit' | 'drift';
const KINDS: readonly ChaosKind[] = ['kill', 'exit', 'pause', 'cut', 'double', 'stale', 'nan', 'thread-exit', 'drift'];

export interface ChaosAction {
  readonly kind: ChaosKind;
  readonly step: number;
  /** pause only: milliseconds stopped. */
  readonly durationMs: number;
}

/** What the chaos needs from the worker to misbehave. */
export interface ChaosIo {
  send(message: Message): void;
  /** Writes `bytes` as the start of a binary frame announcing `frameLength` bytes, then destroys the TCP socket. */
  cut(frameLength: number, bytes: Uint8Array): void;
  leave(reason: string): void;
  log(line: string): void;
}

/** Parses "kill@step20,pause@step40:5s" (durations in ms or s). Throws a WorkerError naming the bad part. */
export function parseChaos(plan: string): ChaosAction[] {
  if (plan.trim() === '') return [];
  return plan.split(',').map((part) => {
    const match = /^\s*([a-z-]+)@step(\d+)(?::(\d+(?:\.\d+)?)(ms|s))?\s*$/.exec(part);
    if (match === null || !KINDS.includes(match[1] as ChaosKind)) {
      throw new WorkerError('BAD_OPTION', `--chaos: "${part}" is not ACTION@stepN[:DURATION] with ACTION one of ${KINDS.join(', ')}`);
    }
    const kind = match[1] as ChaosKind;
    const step = Number(match[2]);
    if (step < 1) throw new WorkerError('BAD_OPTION', `--chaos: "${part}": steps count from 1`);
    const durationMs = match[3] === undefined ? 0 : Number(match[3]) * (match[4] === 's' ? 1000 : 1);
    if (kind === 'pause' && !(durationMs > 0)) throw new WorkerError('BAD_OPTION', `--chaos: "${part}": pause needs a duration, e.g. pause@step${step}:5s`);
    return { kind, step, durationMs };
  });
}

export class Chaos {
  private readonly pending: ChaosAction[];
  /** A stale@ answer waiting to be re-sent before the next step's answer. */
  private staleAnswer: GradientMessage | null = null;

  constructor(actions: readonly ChaosAction[]) {
    this.pending = [...actions];
  }

  /** The step at which a compute thread is to exit (thread-exit@stepN): the threaded engine does it. */
  get threadExitStep(): number | undefined {
    return this.pending.find((action) => action.kind === 'thread-exit')?.step;
  }

  get active(): boolean {
    return this.pending.length > 0 || this.staleAnswer !== null;
  }

  /** Whether to perturb the replica before computing `step` (a drift@ action, taken once). */
  drift(step: number): boolean {
    const index = this.pending.findIndex((action) => action.kind === 'drift' && action.step === step);
    if (index >= 0) this.pending.splice(index, 1);
    return index >= 0;
  }

  /** Called with each computed answer; returns true when it took care of sending (or of not sending). */
  answer(answer: GradientMessage, encode: (message: Message) => Uint8Array, io: ChaosIo): boolean {
    if (this.staleAnswer !== null && answer.step > this.staleAnswer.step) {
      io.log(`worker chaos: re-sending the answer to step ${this.staleAnswer.step} (stale)`);
      io.send(this.staleAnswer);
      this.staleAnswer = null;
    }
    const index = this.pending.findIndex((action) => action.step === answer.step);
    if (index < 0) return false;
    const action = this.pending.splice(index, 1)[0]!;
    io.log(`worker chaos: ${action.kind} at step ${action.step}`);
    switch (action.kind) {
      case 'kill':
        process.kill(process.pid, 'SIGKILL');
        return true;
      case 'exit':
        io.leave(`chaos exit at step ${action.step}`);
        return true;
      case 'pause':
        pauseSelf(action.durationMs);
        return false; // answered late, after SIGCONT
      case 'cut': {
        const frame = encode(answer);
        io.cut(frame.byteLength, frame.subarray(0, frame.byteLength >> 1));
        return true;
      }
      case 'double':
        io.send(answer);
        io.send(answer);
        return true;
      case 'stale':
        this.staleAnswer = { ...answer, gradient: answer.gradient.slice() };
        return false;
      case 'nan': {
        if (answer.packed !== undefined) {
          io.send({ ...answer, packed: withNaN(answer.packed) });
          return true;
        }
        const gradient = answer.gradient.slice();
        gradient[gradient.length >> 1] = Number.NaN;
        io.send({ ...answer, gradient });
        return true;
      }
      case 'drift':
        return false; // taken before the step by drift()
      case 'thread-exit':
        return false; // the engine's thread did not exit (it has none): answer normally
      default: {
        const unknown: never = action.kind;
        throw new Error(`unknown chaos action ${String(unknown)}`);
      }
    }
  }
}

/** A copy of packed gradient bytes (core's wire/packed.ts) whose first value is NaN. */
function withNaN(packed: Uint8Array): Uint8Array {
  const copy = packed.slice();
  const view = new DataView(copy.buffer);
  if (copy[0] === PACKED_FORMAT.denseBf16) view.setUint16(2, 0x7fc0, true);
  else if (copy[0] === PACKED_FORMAT.denseF32) view.setFloat32(4, Number.NaN, true);
  else if (copy[0] === PACKED_FORMAT.sparseBf16 && view.getUint32(4, true) > 0) view.setUint16(8, 0x7fc0, true);
  else if (view.getUint32(4, true) > 0) view.setFloat32(8, Number.NaN, true);
  return copy;
}

/**
 * Stops this process with SIGSTOP for `durationMs`; a detached shell sends SIGCONT.
 * NOTE: while stopped nothing runs here (no pongs, no timers), exactly like `kill -STOP`.
 */
function pauseSelf(durationMs: number): void {
  const seconds = (durationMs / 1000).toFixed(3);
  const waker = spawn('sh', ['-c', `sleep ${seconds}; kill -CONT ${process.pid}`], { detached: true, stdio: 'ignore' });
  waker.unref();
  process.kill(process.pid, 'SIGSTOP');
}

/**
 * The header of one masked binary WebSocket frame (client to server) of `length` payload
 * bytes, RFC 6455 section 5.2; the mask is all zeros, so the payload goes out as is.
 */
export function frameHeader(length: number): Uint8Array {
  const header = new Uint8Array(14);
  header[0] = 0x82; // FIN + binary
  header[1] = 0x80 | 127; // masked, 64-bit length follows
  new DataView(header.buffer).setBigUint64(2, BigInt(length));
  return header; // bytes 10..13: the zero mask
}
