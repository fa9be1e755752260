/** The throughput estimate that sizes a worker's slices and deadlines. */
import { describe, expect, it } from 'vitest';
import { WorkerPeer } from './peers.js';

const link = { bytesIn: 0, bytesOut: 0, lastHeard: 0, writtenAt: 0, answeredPingAt: 0, figures: () => ({ rttMs: 0, downMbps: 0, upMbps: 0 }) };

describe('WorkerPeer.measured', () => {
  it('lets the second answer replace a first one slowed by one-time costs, then smooths', () => {
    const peer = new WorkerPeer(1, 'w1', 'test', 'ts', link);
    peer.measured(100, 10_000); // 10 images/s: the first slice waited for the dataset
    expect(peer.rate).toBeCloseTo(10, 9);
    peer.measured(100, 100); // 1,000 images/s
    expect(peer.rate).toBeCloseTo(1000, 9);
    peer.measured(100, 200); // 500 images/s, smoothed with weight 0.3
    expect(peer.rate).toBeCloseTo(0.7 * 1000 + 0.3 * 500, 9);
  });

  it('halves the estimate on a strike', () => {
    const peer = new WorkerPeer(1, 'w1', 'test', 'ts', link);
    peer.measured(64, 100);
    peer.measured(64, 100);
    peer.penalise();
    expect(peer.rate).toBeCloseTo(320, 9);
  });
});
