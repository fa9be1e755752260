import { decodePacked, decodeSparseEntries, packSparse, packTopk, type GradientMessage } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { sparseAnswerIndices, sumInSliceOrder } from './gradient-sum.js';
import type { Piece } from './scheduler.js';

function piece(start: number, count: number, values: number[] | Float32Array, workerId = 1, extra: Partial<GradientMessage> = {}): Piece {
  const answer: GradientMessage = {
    type: 'gradient', step: 1, round: start + 1, count, lossSum: count / 2, correct: count - 1,
    gradient: Float32Array.from(values), computeMs: 1, decodeMs: 0, ...extra,
  };
  return { start, end: start + count, workerId, version: 0, answer, roundTripMs: 1, sentAt: 0, arrivedAt: 1, scale: 0 };
}

describe('sumInSliceOrder', () => {
  it('adds in the order given, which float32 tells apart from any other (1e8 + 1 - 1e8)', () => {
    const pieces = [piece(0, 2, [1e8, 1]), piece(2, 3, [1, 1e8]), piece(5, 1, [-1e8, -1e8])];
    const into = new Float32Array([7, 7]); // overwritten, not added to
    const totals = sumInSliceOrder(pieces, into, 1);
    // Independent answer: float32 rounding after each addition, in slice order.
    const values = [[1e8, 1], [1, 1e8], [-1e8, -1e8]] as const;
    const expected = [0, 1].map((j) => Math.fround(Math.fround(values[0][j]! + values[1][j]!) + values[2][j]!));
    expect(Array.from(into)).toEqual(expected);
    expect(Array.from(into)).toEqual([0, 0]); // 1e8 + 1 rounds to 1e8 in float32
    expect(totals).toEqual({ count: 6, lossSum: 3, correct: 3, workers: 1 });
  });

  it('counts distinct workers and the answers\' own image counts', () => {
    const totals = sumInSliceOrder([piece(0, 4, [1], 1), piece(4, 4, [2], 2), piece(8, 4, [3], 1)], new Float32Array(1), 1);
    expect(totals.count).toBe(12);
    expect(totals.workers).toBe(2);
  });

  it('refuses pieces that do not tile the batch (a slice lost or summed twice)', () => {
    expect(() => sumInSliceOrder([piece(0, 4, [1]), piece(0, 4, [1])], new Float32Array(1), 3)).toThrow(/step 3: slices do not tile the batch/);
    expect(() => sumInSliceOrder([piece(0, 4, [1]), piece(5, 4, [1])], new Float32Array(1), 3)).toThrow(/starts at 5, expected 4/);
    expect(() => sumInSliceOrder([piece(0, 4, [1, 2])], new Float32Array(1), 3)).toThrow(/gradient of 2 values/);
  });

  it('sparse answers (topk) add only their entries and give the dense sum bit for bit, mixed with dense answers too', () => {
    const paramCount = 5_000;
    let seed = 11;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32) * 2 - 1;
    // Four slices: three sparse frames (bf16 and float32 values, overlapping entries, one with none) and one dense answer.
    const frames: Uint8Array[] = [];
    for (const [k, density] of [0.02, 0.3, 0].entries()) {
      const values = Float32Array.from({ length: paramCount }, () => (random() * 0.5 + 0.5 < density ? random() * 10 ** (k - 3) : 0));
      const indices = Uint32Array.from(Array.from(values).flatMap((value, i) => (value !== 0 ? [i] : [])));
      frames.push(k === 1 ? packSparse(values, indices, indices.length) : packTopk(values, indices, indices.length));
    }
    const dense = Float32Array.from({ length: paramCount }, () => random());
    const sparsePiece = (start: number, frame: Uint8Array, workerId: number): Piece =>
      piece(start, 2, [], workerId, { packed: frame, entries: decodeSparseEntries(frame, paramCount, 'gradient.packed')! });
    const densePiece = (start: number, frame: Uint8Array, workerId: number): Piece => {
      const gradient = new Float32Array(paramCount);
      decodePacked(frame, gradient, 'gradient.packed');
      return piece(start, 2, gradient, workerId);
    };
    for (const order of [[0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 1, 0]]) {
      const asSparse = order.map((k, i) => (k === 3 ? piece(2 * i, 2, dense, 9) : sparsePiece(2 * i, frames[k]!, k + 1)));
      const asDense = order.map((k, i) => (k === 3 ? piece(2 * i, 2, dense, 9) : densePiece(2 * i, frames[k]!, k + 1)));
      const fromSparse = new Float32Array(paramCount).fill(7);
      const fromDense = new Float32Array(paramCount);
      expect(sumInSliceOrder(asSparse, fromSparse, 1)).toEqual(sumInSliceOrder(asDense, fromDense, 1));
      // Bit for bit, except that a zero's sign may differ (+0 + -0); both are 0 to every later use.
      expect(Array.from(fromSparse, (value) => value + 0)).toEqual(Array.from(fromDense, (value) => value + 0));
      expect(fromSparse.some((value) => value !== 0)).toBe(true);
    }
  });
  it('32 sparse answers (bench:load\'s step) give the dense sum bit for bit: entries added eight at a time, in slice order', () => {
    const paramCount = 20_000;
    let seed = 29;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32;
    const pieces: Piece[] = [];
    const densePieces: Piece[] = [];
    for (let w = 0; w < 32; w++) {
      // 1% to 5% of the entries, so the lists' lengths are seldom multiples of eight; large and
      // small magnitudes, so the order of the additions shows in the float32 sum.
      const density = 0.01 + 0.04 * random();
      const values = Float32Array.from({ length: paramCount }, (_, i) => (random() < density || i === paramCount - 1 ? (random() - 0.5) * 2 ** (30 * random() - 10) : 0));
      const indices = Uint32Array.from(Array.from(values).flatMap((value, i) => (value !== 0 ? [i] : [])));
      const frame = packTopk(values, indices, indices.length);
      const gradient = new Float32Array(paramCount);
      decodePacked(frame, gradient, 'gradient.packed');
      pieces.push(piece(2 * w, 2, [], w + 1, { packed: frame, entries: decodeSparseEntries(frame, paramCount, 'gradient.packed')! }));
      densePieces.push(piece(2 * w, 2, gradient, w + 1));
    }
    const fromSparse = new Float32Array(paramCount).fill(3);
    const fromDense = new Float32Array(paramCount);
    expect(sumInSliceOrder(pieces, fromSparse, 1)).toEqual(sumInSliceOrder(densePieces, fromDense, 1));
    expect(Array.from(fromSparse, (value) => value + 0)).toEqual(Array.from(fromDense, (value) => value + 0));
    expect(fromSparse.filter((value) => value !== 0).length).toBeGreaterThan(paramCount / 2);
  });
});

describe('sparseAnswerIndices', () => {
  it('the indices of each sparse answer, in slice order; none when an answer is dense', () => {
    const values = new Float32Array(100);
    values[3] = 1;
    values[40] = -2;
    const frame = packTopk(values, Uint32Array.of(3, 40), 2);
    const sparse = (start: number) => piece(start, 2, [], 1, { packed: frame, entries: decodeSparseEntries(frame, 100, 'gradient.packed')! });
    expect(sparseAnswerIndices([sparse(0), sparse(2)])?.map((indices) => [...indices])).toEqual([[3, 40], [3, 40]]);
    expect(sparseAnswerIndices([sparse(0), piece(2, 2, new Float32Array(100))])).toBeUndefined();
  });
});
