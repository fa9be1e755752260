/**
 * Writes a run's checkpoints off the step's path. The trainer takes each checkpoint at a
 * step boundary (a copy of the parameters and optimizer state, so later steps do not change
 * it); the encoding and the write start one turn later, once the next step's slices are
 * out, and run while the workers compute. Never two writes at once: a checkpoint due while
 * one is in flight waits, and a newer one replaces it (only the newest matters).
 */
import type { Checkpoint } from '@convoy/core/node';
import type { CheckpointStore } from './trainer.js';

export class CheckpointWriter {
  private writing: Promise<void> | null = null;
  private waiting: Checkpoint | null = null;

  /** `onError`: a write failed (the run must end; the previous checkpoint stays good). */
  constructor(
    private readonly store: CheckpointStore,
    private readonly onError: (error: Error) => void,
  ) {}

  save(checkpoint: Checkpoint): void {
    this.waiting = checkpoint;
    this.writing ??= this.writeWaiting();
  }

  /** Resolves once nothing is being written (never rejects: a failure went to onError). */
  async idle(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  private async writeWaiting(): Promise<void> {
    // NOTE: one turn later, so the next step's slices are sent before the encoding starts.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      for (let checkpoint = this.waiting; checkpoint !== null; checkpoint = this.waiting) {
        this.waiting = null;
        await this.store.writeCheckpoint(checkpoint);
      }
    } catch (error) {
      this.waiting = null;
      this.onError(error as Error);
    } finally {
      this.writing = null;
    }
  }
}
