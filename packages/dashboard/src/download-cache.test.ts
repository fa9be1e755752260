import { describe, expect, it } from 'vitest';
import { DownloadCache, MIN_REUSE_MS, REUSE_FACTOR } from './download-cache.js';
import type { History } from './history-export.js';
import { fixtureHistory, stepRecord } from './testing/history-fixture.js';

/** A cache on a clock the test moves, and a build that counts itself and takes `buildMs` of that clock. */
function setup(buildMs = 10) {
  let now = 0;
  const builds: string[] = [];
  const cache = new DownloadCache((name) => builds.push(name), () => now);
  const build = (history: History) => () => {
    now += buildMs;
    return `steps=${history.steps.length}`;
  };
  return { cache, builds, build, advance: (ms: number) => (now += ms) };
}

describe('DownloadCache', () => {
  it('the same history is built once, whatever the number of requests', () => {
    const { cache, builds, build } = setup();
    const history = fixtureHistory(30);
    const bodies = Array.from({ length: 20 }, () => cache.get('/history.json', history, build(history)).toString());
    expect(new Set(bodies)).toEqual(new Set(['steps=30']));
    expect(builds).toEqual(['/history.json']);
  });

  it(`a live history that changed is served stale for max(${MIN_REUSE_MS} ms, ${REUSE_FACTOR} x the build), then rebuilt`, () => {
    const { cache, builds, build, advance } = setup(200);
    const history = fixtureHistory(30);
    cache.get('/history.json', history, build(history));
    const later = { ...history, steps: [...history.steps, stepRecord(31)] };
    advance(REUSE_FACTOR * 200 - 300);
    expect(cache.get('/history.json', later, build(later)).toString()).toBe('steps=30');
    advance(400);
    expect(cache.get('/history.json', later, build(later)).toString()).toBe('steps=31');
    expect(builds).toEqual(['/history.json', '/history.json']);
  });

  it('each download is its own entry; a replaced workers table or a new event is a change', () => {
    const { cache, builds, build, advance } = setup(1);
    const history = fixtureHistory(30);
    cache.get('/history.csv', history, build(history));
    cache.get('/history.json', history, build(history));
    advance(MIN_REUSE_MS);
    const replaced = { ...history, workers: [...history.workers] };
    cache.get('/history.csv', replaced, build(replaced));
    advance(MIN_REUSE_MS);
    const withEvent = { ...replaced, events: [...replaced.events, { ...history.events[0]!, time: 1 }] };
    cache.get('/history.csv', withEvent, build(withEvent));
    cache.get('/history.csv', withEvent, build(withEvent));
    expect(builds).toEqual(['/history.csv', '/history.json', '/history.csv', '/history.csv']);
  });

  it('an ended run is served whole at once, not stale', () => {
    const { cache, build } = setup();
    const history = fixtureHistory(30);
    cache.get('/history.json', history, build(history));
    const ended = { ...history, steps: [...history.steps, stepRecord(31)], end: { kind: 'end', reason: 'finished', step: 31, detail: '', time: 2 } } satisfies History;
    expect(cache.get('/history.json', ended, build(ended)).toString()).toBe('steps=31');
  });
});
