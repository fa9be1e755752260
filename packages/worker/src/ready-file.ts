/**
 * `--ready-file PATH`: a file that exists exactly while this worker is joined to a
 * coordinator and can take work (written on welcome, or once the dataset it waited for has
 * arrived; removed when the link drops and when the worker leaves or stops). An
 * orchestrator's readiness probe (`test -f PATH`) then passes only for a joined worker.
 *
 * The file holds this process's id, so a Kubernetes preStop hook can make the worker leave
 * and wait for the leave to be sent (deploy/kubernetes/worker.yaml): `kill -TERM` the id,
 * then wait until the file is gone.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { WorkerError } from './errors.js';

export class ReadyFile {
  /**
   * Proves the folder writable now (a bad path is a flag error at start, not a probe that
   * never passes) and removes a file an earlier, killed process may have left behind.
   */
  constructor(
    readonly path: string,
    private readonly log: (line: string) => void,
  ) {
    try {
      this.write();
      this.clear();
    } catch (error) {
      throw new WorkerError('BAD_OPTION', `--ready-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  /** Joined: the file exists. A failed write is logged; the probe then keeps failing, which is the truth. */
  mark(): void {
    try {
      this.write();
    } catch (error) {
      this.log(`worker: --ready-file ${this.path} not written: ${(error as Error).message}`);
    }
  }

  /** Not joined (any more): the file is gone. */
  clear(): void {
    rmSync(this.path, { force: true });
  }

  /** NOTE: written beside and renamed, so a preStop hook never reads half a process id. */
  private write(): void {
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${process.pid}\n`);
    renameSync(temporary, this.path);
  }
}
