/**
 * A dense vector written by one sparse frame after another (a replica's update gradient:
 * paramCount floats, of which a topk update sets a few percent). Each write must leave the
 * vector 0 off its entries; clearing only the entries the previous write set, rather than
 * all paramCount, is what this keeps track of.
 *
 * NOTE: it must be the vector's only writer: a write it does not see would leave values
 * behind that no clear() removes. It keeps the `indices` it is given (no copy): the caller
 * must not change them before the next write.
 */
import { scatterInto, type SparseEntries } from './packed.js';

export class SparseWrites {
  /** The entries that may be nonzero, or null when any may (a dense write, or nothing known yet). */
  private written: Uint32Array | null = null;

  constructor(readonly dense: Float32Array) {}

  /** Zeroes the entries the last write set (all of them when unknown, or when they are many). */
  clear(): void {
    const { dense, written } = this;
    // NOTE: beyond an eighth of the entries, scattered stores cost more than one sequential fill.
    if (written === null || written.length > dense.length / 8) dense.fill(0);
    else for (let j = 0; j < written.length; j++) dense[written[j]!] = 0;
    this.written = null;
  }

  /** Records that the vector is now 0 off `indices` (null: it may be nonzero anywhere). */
  wrote(indices: Uint32Array | null): void {
    this.written = indices;
  }

  /** The vector becomes `entries` (0 elsewhere), or `gradient` (all of it) when there are none. */
  assign(entries: SparseEntries | undefined, gradient: Float32Array): void {
    if (entries === undefined) {
      this.dense.set(gradient);
      this.wrote(null);
      return;
    }
    this.clear();
    scatterInto(entries, this.dense);
    this.wrote(entries.indices);
  }
}
