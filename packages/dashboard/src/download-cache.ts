/**
 * The current run's downloads (/history.json, /history.csv, /history.svg), built at most
 * once per interval however many requests come. A long run's JSON is megabytes and takes a
 * noticeable fraction of a second to build, on the thread that also trains: unauthenticated
 * requests must not be able to buy that time in a loop.
 *
 * Contract of `get(name, current, build)`, where `current` is a cheap view of the history
 * (the records in memory) that changes whenever the history does, and `build` makes the
 * download from the whole history (which may mean reading it from disk):
 * - the same history (same records: see `fingerprint`) is never built twice: every request gets
 *   the bytes built for it;
 * - while the run goes on, a history that changed is rebuilt only once the last build is
 *   `max(MIN_REUSE_MS, REUSE_FACTOR x its build time)` old; until then the previous bytes
 *   are served (a download of a live run is a moment's copy anyway), so builds take at most
 *   1/REUSE_FACTOR of the time;
 * - a run that has ended is always served whole (its final history is rebuilt at once).
 * Builds are synchronous, so there is never more than one in flight.
 */
import type { History } from './history-export.js';

/** A changed history is served stale for at least this long after a build. */
export const MIN_REUSE_MS = 1_000;
/** ... and for at least this many times the build's own duration. */
export const REUSE_FACTOR = 10;

interface Built {
  readonly fingerprint: string;
  readonly bytes: Buffer;
  readonly builtAt: number;
  readonly buildMs: number;
}

export class DownloadCache {
  private readonly built = new Map<string, Built>();
  /** The workers table is replaced, never changed in place: its identity says when it changed. */
  private readonly tables = new WeakMap<object, number>();
  private nextTable = 1;

  constructor(
    /** Called after each build (name, milliseconds): tests count builds, a server may log slow ones. */
    private readonly onBuild: (name: string, ms: number) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(name: string, current: History, build: () => string): Buffer {
    const fingerprint = this.fingerprint(current);
    const previous = this.built.get(name);
    if (previous !== undefined) {
      if (previous.fingerprint === fingerprint) return previous.bytes;
      const age = this.now() - previous.builtAt;
      if (current.end === null && age < Math.max(MIN_REUSE_MS, REUSE_FACTOR * previous.buildMs)) return previous.bytes;
    }
    const started = this.now();
    const bytes = Buffer.from(build(), 'utf8');
    const buildMs = this.now() - started;
    this.built.set(name, { fingerprint, bytes, builtAt: this.now(), buildMs });
    this.onBuild(name, buildMs);
    return bytes;
  }

  /** Changes whenever a record is added (also to bounded lists): lengths, the last step and event, the workers table's identity. */
  private fingerprint(history: History): string {
    let table = this.tables.get(history.workers);
    if (table === undefined) this.tables.set(history.workers, (table = this.nextTable++));
    const lastStep = history.steps.at(-1);
    return [
      history.run?.runId ?? '',
      history.steps.length,
      lastStep?.step ?? 0,
      lastStep?.time ?? 0,
      history.epochs.length,
      history.events.length,
      history.events.at(-1)?.time ?? 0,
      history.test?.time ?? '',
      history.end?.time ?? '',
      table,
    ].join('|');
  }
}
