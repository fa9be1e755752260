import { MNIST_CNN_DROPOUT } from '@convoy/core';
import { describe, expect, it } from 'vitest';
import { describeSpec, formatBandwidth, formatBytes, formatCount, formatDuration, formatPercent } from './format.js';

describe('format', () => {
  it('durations: m:ss under an hour, h:mm:ss above, a dash when unknown', () => {
    expect([formatDuration(0), formatDuration(59.6), formatDuration(61), formatDuration(3723), formatDuration(null), formatDuration(-1)]).toEqual([
      '0:00',
      '1:00',
      '1:01',
      '1:02:03',
      '–',
      '–',
    ]);
  });

  it('counts, bytes and percentages', () => {
    expect(formatCount(1234567.4)).toBe('1,234,567');
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(4.8 * 1024 * 1024)]).toEqual(['0 B', '1023 B', '1.5 KB', '4.8 MB']);
    expect([formatPercent(0.99), formatPercent(null)]).toEqual(['99.00%', '–']);
    expect([formatBandwidth(undefined), formatBandwidth(0), formatBandwidth(9.46), formatBandwidth(94.14), formatBandwidth(940.6), formatBandwidth(1250)]).toEqual(['–', '–', '9.5 Mbit/s', '94.1 Mbit/s', '941 Mbit/s', '1.25 Gbit/s']);
  });

  it('describes the default model on one line', () => {
    expect(describeSpec(MNIST_CNN_DROPOUT)).toBe(
      'input 1×28×28 → conv2d 32 3×3 relu → conv2d 64 3×3 relu → maxpool 2×2 → dropout 0.25 → flatten → dense 128 relu → dropout 0.5 → dense 10 softmax',
    );
    expect(describeSpec({ input: [1, 28, 28], layers: [{ type: 'conv2d', filters: 4, kernelSize: [5, 3], stride: 2, padding: 'same' }] })).toBe(
      'input 1×28×28 → conv2d 4 5×3 /2×2 same',
    );
  });
});
