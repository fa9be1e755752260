import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { scatterEntries, type SparseEntries } from './packed.js';
import { SparseWrites } from './sparse-writes.js';

const LENGTH = 1_000;

function randomEntries(rng: Rng, density: number): SparseEntries {
  const indices = Uint32Array.from(Array.from({ length: LENGTH }, (_, i) => i).filter(() => rng.nextFloat() < density));
  return { indices, values: Float32Array.from(indices, () => rng.nextFloat() - 0.5) };
}

describe('SparseWrites', () => {
  it('after each write the vector is exactly that write: sparse after sparse, dense, none, many (cleared by a fill), sparse again (against a fresh scatter)', () => {
    const rng = new Rng(2);
    const dense = new Float32Array(LENGTH).fill(3); // whatever was there before: the first write clears it all
    const writes = new SparseWrites(dense);
    for (const step of ['sparse', 'sparse', 'dense', 'sparse', 'empty', 'many', 'sparse', 'many'] as const) {
      if (step === 'dense') {
        const gradient = Float32Array.from({ length: LENGTH }, () => rng.nextFloat());
        writes.assign(undefined, gradient);
        expect(dense).toEqual(gradient);
        continue;
      }
      const entries = randomEntries(rng, step === 'empty' ? 0 : step === 'many' ? 0.5 : 0.05);
      writes.assign(entries, new Float32Array(0));
      expect(dense).toEqual(scatterEntries(entries, LENGTH));
    }
  });

  it('clear() and wrote() for a writer of its own: only the entries recorded are cleared', () => {
    const dense = new Float32Array(8);
    const writes = new SparseWrites(dense);
    dense[2] = 1;
    dense[5] = 2;
    writes.wrote(Uint32Array.of(2, 5));
    writes.clear();
    expect(dense).toEqual(new Float32Array(8));
    // An entry written behind its back stays: the NOTE in sparse-writes.ts.
    dense[1] = 4;
    writes.wrote(Uint32Array.of(2));
    writes.clear();
    expect(dense[1]).toBe(4);
  });
});
