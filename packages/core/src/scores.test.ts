// Scores from probabilities against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { PROBABILITY_FLOOR, addToConfusion, argmaxRow, crossEntropy, scoreProbabilities } from './scores.js';

describe('crossEntropy', () => {
  it('is -ln p: 0 for certainty, ln 2 for a coin toss, ln 10 for one in ten', () => {
    expect(crossEntropy(1)).toBe(0);
    expect(crossEntropy(0.5)).toBeCloseTo(0.6931471805599453, 15);
    expect(crossEntropy(0.1)).toBeCloseTo(2.302585092994046, 15);
  });

  it('a zero (or underflowed) probability costs -ln 1e-12 = 27.631..., never Infinity', () => {
    expect(PROBABILITY_FLOOR).toBe(1e-12);
    expect(crossEntropy(0)).toBeCloseTo(27.631021115928547, 12);
    expect(crossEntropy(1e-30)).toBe(crossEntropy(0));
  });
});

describe('argmaxRow', () => {
  const probabilities = Float32Array.from([0.1, 0.2, 0.7, 0.6, 0.3, 0.1, 0.25, 0.5, 0.25, 0.4, 0.4, 0.2]);
  it('finds the largest of each row of [rows=4, classes=3]', () => {
    expect([0, 1, 2].map((row) => argmaxRow(probabilities, row, 3))).toEqual([2, 0, 1]);
  });
  it('takes the first of equal values', () => {
    expect(argmaxRow(probabilities, 3, 3)).toBe(0);
  });
});

describe('scoreProbabilities', () => {
  // classes 3, rows: [.1 .2 .7] label 2 right, [.6 .3 .1] label 1 wrong (argmax 0),
  // [.25 .5 .25] label 1 right, [.4 .4 .2] label 0 right (first of the tie).
  const probabilities = Float32Array.from([0.1, 0.2, 0.7, 0.6, 0.3, 0.1, 0.25, 0.5, 0.25, 0.4, 0.4, 0.2]);
  const labels = Uint8Array.from([2, 1, 1, 0]);

  it('sums -ln p[label] and counts the rows whose argmax is the label', () => {
    const { lossSum, correct } = scoreProbabilities(probabilities, labels, 3);
    const expected = -(Math.log(Math.fround(0.7)) + Math.log(Math.fround(0.3)) + Math.log(0.5) + Math.log(Math.fround(0.4)));
    expect(lossSum).toBeCloseTo(expected, 12);
    expect(lossSum).toBeCloseTo(0.356675 + 1.203973 + 0.693147 + 0.916291, 5);
    expect(correct).toBe(3);
  });

  it('writes each row\'s prediction when asked', () => {
    const predictions = new Uint8Array(4).fill(9);
    scoreProbabilities(probabilities, labels, 3, predictions);
    expect(Array.from(predictions)).toEqual([2, 0, 1, 0]);
  });

  it('scores only labels.length rows of a longer buffer, and refuses a shorter one', () => {
    expect(scoreProbabilities(probabilities, labels.subarray(0, 1), 3)).toEqual({ lossSum: crossEntropy(Math.fround(0.7)), correct: 1 });
    expect(() => scoreProbabilities(probabilities.subarray(0, 11), labels, 3)).toThrow(RangeError);
  });
});

describe('addToConfusion', () => {
  it('counts row = true class, column = predicted class', () => {
    const confusion = new Uint32Array(9);
    const pairs: [number, number][] = [[2, 2], [1, 0], [1, 1], [0, 0], [1, 0]];
    for (const [label, predicted] of pairs) expect(addToConfusion(confusion, 3, label, predicted)).toBe(true);
    expect(Array.from(confusion)).toEqual([1, 0, 0, 2, 1, 0, 0, 0, 1]);
  });

  it('counts nothing for a prediction that is not a class, and says so', () => {
    const confusion = [0, 0, 0, 0];
    expect(addToConfusion(confusion, 2, 1, 2)).toBe(false);
    expect(addToConfusion(confusion, 2, 1, -1)).toBe(false);
    expect(addToConfusion(confusion, 2, 1, 0.5)).toBe(false);
    expect(confusion).toEqual([0, 0, 0, 0]);
  });
});
