/**
 * A run's folder on disk (the trainer's CheckpointStore): made and proved writable at start,
 * cleared of a dead coordinator's checkpoint temporaries, history.jsonl appended to and cut
 * back on resume, checkpoints written off the event loop. A failed write (a full disk) is
 * reported once through onFailure and nothing is written after it: the last checkpoint
 * written stays good.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { MetricsRecord } from '@convoy/core';
import { CheckpointError, readCheckpoint, writeCheckpointAtomic, type Checkpoint } from '@convoy/core/node';
import { CHECKPOINT_FILE, HISTORY_FILE, MODEL_FILE, storableRecord } from './persistence.js';

/** One line of history.jsonl, without its newline. */
function toJson(record: MetricsRecord): string {
  return JSON.stringify(storableRecord(record));
}

/**
 * A write into the run folder failed (a full disk, a removed folder, a read-only mount): the
 * run stops with the last good checkpoint. Its message is one line for the user.
 */
export class RunFolderError extends Error {
  readonly code = 'RUN_FOLDER';
  constructor(message: string) {
    super(message);
    this.name = 'RunFolderError';
  }
}

/** What the common write errors mean, for the one line the user reads. */
const ERROR_TEXTS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EIO: 'input/output error',
};

/** "no space left on device (ENOSPC)"; a core CheckpointError's "(CODE)" is read back the same way. */
function describeFsError(error: unknown): string {
  const code = error instanceof CheckpointError ? /\((\w+)\)$/.exec(error.message)?.[1] : (error as NodeJS.ErrnoException).code;
  if (code === undefined) return (error as Error).message;
  return `${ERROR_TEXTS[code] ?? 'write failed'} (${code})`;
}

/** A temporary checkpoint file of core's atomic write: `.<target>.<pid>.<hex>.tmp`. */
const TEMPORARY_CHECKPOINT = new RegExp(`^\\.(?:${[CHECKPOINT_FILE, MODEL_FILE].map((name) => name.replaceAll('.', '\\.')).join('|')})\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * mkdir -p: makes `dir` and its missing parents, returning the topmost one it made.
 * NOTE: not mkdirSync's { recursive: true }: on a path like /proc/convoy (the parent exists,
 * the kernel answers ENOENT) Node 20's recursive mkdir loops forever.
 */
function makeFolders(dir: string): string | undefined {
  const missing: string[] = [];
  for (let path = dir; !existsSync(path) && dirname(path) !== path; path = dirname(path)) missing.unshift(path);
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      // Made meanwhile by someone else: fine when it is a folder.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(path).isDirectory()) throw error;
    }
  }
  return missing[0];
}

/** A run's folder; it is the trainer's CheckpointStore. */
export class RunFolder {
  /** Bytes of history.jsonl written so far (whole lines): what a checkpoint records. */
  private historyLength = 0;
  private failure: RunFolderError | null = null;
  /** Called once, on the first failed write (the coordinator stops the trainer with it). */
  onFailure: (error: RunFolderError) => void = () => undefined;

  /** NOTE: creates nothing: create() makes the folder. */
  constructor(readonly dir: string) {}

  get checkpointPath(): string {
    return join(this.dir, CHECKPOINT_FILE);
  }

  get historyPath(): string {
    return join(this.dir, HISTORY_FILE);
  }

  /** The position in history.jsonl a checkpoint taken now records. */
  get historyBytes(): number {
    return this.historyLength;
  }

  /** The first failed write, if any: nothing is written after it. */
  get failed(): RunFolderError | null {
    return this.failure;
  }

  hasCheckpoint(): boolean {
    return existsSync(this.checkpointPath);
  }

  /**
   * Makes the folder (and its parents) and proves it writable with a probe file, so a bad --out
   * (e.g. /proc/convoy, a read-only mount) fails at once with one line. Returns the topmost folder
   * it created (undefined when the folder existed), for remove() after a failed start.
   */
  create(): string | undefined {
    try {
      const created = makeFolders(this.dir);
      const probe = join(this.dir, `.convoy-probe.${process.pid}`);
      writeFileSync(probe, '', { flag: 'w' });
      rmSync(probe);
      return created;
    } catch (error) {
      throw new RunFolderError(`cannot write the run folder ${this.dir}: ${describeFsError(error)}`);
    }
  }

  /**
   * Removes checkpoint temporaries left by a coordinator killed mid-write: those whose process is
   * gone, and those older than the newest checkpoint (their pid may since have been reused).
   * Returns the names removed.
   */
  removeStaleTemporaries(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const checkpointTime = this.hasCheckpoint() ? statSync(this.checkpointPath).mtimeMs : -Infinity;
    const removed: string[] = [];
    for (const name of names) {
      const match = TEMPORARY_CHECKPOINT.exec(name);
      if (match === null) continue;
      const pid = Number(match[1]);
      const path = join(this.dir, name);
      const stale = pid !== process.pid && (!processAlive(pid) || statSync(path, { throwIfNoEntry: false })!.mtimeMs < checkpointTime);
      if (!stale) continue;
      rmSync(path, { force: true });
      removed.push(name);
    }
    return removed;
  }

  /** Starts history.jsonl afresh with `records` (a new run: none; a run resumed from an older checkpoint: its history). */
  resetHistory(records: readonly MetricsRecord[]): void {
    const text = records.map((record) => `${toJson(record)}\n`).join('');
    this.guard(HISTORY_FILE, () => writeFileSync(this.historyPath, text));
    this.historyLength = Buffer.byteLength(text);
  }

  /**
   * A resumed run: cuts history.jsonl back to the checkpoint's `bytes` (the records after it
   * belong to steps that are redone) and returns the records kept, parsed.
   */
  cutHistory(bytes: number): unknown[] {
    let text: Buffer;
    try {
      text = readFileSync(this.historyPath);
    } catch (error) {
      throw new RunFolderError(`--resume: cannot read ${this.historyPath}: ${describeFsError(error)}`);
    }
    if (text.length < bytes || (bytes > 0 && text[bytes - 1] !== 0x0a)) {
      throw new RunFolderError(`--resume: ${this.historyPath} holds ${text.length} bytes, the checkpoint's history ends at byte ${bytes}: it does not belong to this checkpoint`);
    }
    if (text.length > bytes) this.guard(HISTORY_FILE, () => truncateSync(this.historyPath, bytes));
    this.historyLength = bytes;
    return text
      .subarray(0, bytes)
      .toString('utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line, i) => {
        try {
          return JSON.parse(line) as unknown;
        } catch {
          throw new RunFolderError(`--resume: ${this.historyPath} line ${i + 1} is not JSON`);
        }
      });
  }

  /** Never throws: a failed write (e.g. ENOSPC) is reported once through onFailure, and nothing is appended after it. */
  appendHistory(record: MetricsRecord): void {
    if (this.failure !== null) return;
    const line = `${toJson(record)}\n`;
    try {
      this.guard(HISTORY_FILE, () => appendFileSync(this.historyPath, line));
      this.historyLength += Buffer.byteLength(line);
    } catch {
      // Reported by guard.
    }
  }

  /** Off the event loop (core's atomic write); rejects with a RunFolderError, also reported through onFailure. */
  async writeCheckpoint(checkpoint: Checkpoint, path = this.checkpointPath): Promise<void> {
    if (this.failure !== null) throw this.failure;
    try {
      await writeCheckpointAtomic(path, checkpoint);
    } catch (error) {
      throw this.fail(basename(path), error);
    }
  }

  writeFinalModel(checkpoint: Checkpoint): Promise<void> {
    return this.writeCheckpoint(checkpoint, join(this.dir, MODEL_FILE));
  }

  readCheckpoint(): Checkpoint {
    return readCheckpoint(this.checkpointPath);
  }

  readHistory(): unknown[] {
    if (!existsSync(this.historyPath)) return [];
    return readFileSync(this.historyPath, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as unknown);
  }

  private guard(file: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      throw this.fail(file, error);
    }
  }

  private fail(file: string, error: unknown): RunFolderError {
    const failure = new RunFolderError(`cannot write ${join(this.dir, file)}: ${describeFsError(error)}`);
    if (this.failure === null) {
      this.failure = failure;
      this.onFailure(failure);
    }
    return failure;
  }
}
