import { describe, expect, it } from 'vitest';
import { niceTicks, renderHistorySvg } from './history-svg.js';
import { eventRecord, fixtureHistory, runRecord } from './testing/history-fixture.js';

/** Checks that every element is closed in order (the SVG is well-formed XML as far as tags go). */
function expectBalancedTags(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing === '/') continue;
    if (closing === '/') expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
}

function polyline(svg: string, series: string, panel: 0 | 1): [number, number][] {
  const lines = [...svg.matchAll(new RegExp(`<polyline data-series="${series}"[^>]*points="([^"]*)"`, 'g'))];
  const points = lines[panel]![1]!.split(' ');
  return points.map((point) => point.split(',').map(Number) as [number, number]);
}

describe('niceTicks', () => {
  it('[0, 2.3] by 0.5; [0.8, 1] by 0.05; [0, 10000] by 2000', () => {
    expect(niceTicks(0, 2.3)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(niceTicks(0.8, 1)).toEqual([0.8, 0.85, 0.9, 0.95, 1]);
    expect(niceTicks(0, 10_000)).toEqual([0, 2000, 4000, 6000, 8000, 10_000]);
  });
});

describe('renderHistorySvg', () => {
  it('draws both panels: decreasing loss goes down the picture, validation has one point per epoch', () => {
    const svg = renderHistorySvg(fixtureHistory(100));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expectBalancedTags(svg);
    const loss = polyline(svg, 'train \\(per step\\)', 0);
    expect(loss.length).toBe(100);
    // SVG y grows downwards: a falling loss has rising y; steps go right.
    for (let i = 1; i < loss.length; i++) {
      expect(loss[i]![0]).toBeGreaterThan(loss[i - 1]![0]);
      expect(loss[i]![1]).toBeGreaterThanOrEqual(loss[i - 1]![1]);
    }
    // Plot left edge at x=58, right edge at 480-16=464 (the last step is the axis maximum).
    expect(loss.at(-1)![0]).toBeCloseTo(464, 0);
    const accuracy = polyline(svg, 'train \\(per step\\)', 1);
    expect(accuracy[0]![0]).toBeGreaterThan(480); // right panel
    expect(accuracy.at(-1)![1]).toBeLessThan(accuracy[0]![1]); // rising accuracy goes up
    expect(polyline(svg, 'validation', 0).length).toBe(10);
  });

  it('puts the dashed 99% line at the height of 0.99 on the accuracy axis', () => {
    const svg = renderHistorySvg(fixtureHistory(100));
    // The accuracy axis's tick labels (right panel) give its scale; 0.99 is interpolated from two of them.
    const ticks = [...svg.matchAll(/<text x="(\d+(?:\.\d+)?)" y="(\d+(?:\.\d+)?)" font-size="11" text-anchor="end" fill="#495057">([\d.]+)<\/text>/g)]
      .filter((match) => Number(match[1]) > 480)
      .map((match) => ({ y: Number(match[2]) - 4, value: Number(match[3]) }));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    const top = ticks.at(-1)!;
    const bottom = ticks[0]!;
    expect(top.value).toBe(1);
    const expected = top.y + ((top.value - 0.99) / (top.value - bottom.value)) * (bottom.y - top.y);
    const reference = svg.match(/<line class="reference" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)"/)!;
    expect(Number(reference[1])).toBeCloseTo(expected, 0);
  });

  it('10,000 steps: the raw curve is min/max-downsampled, the file stays small, events are marked', () => {
    const history = fixtureHistory(10_000, 1_000);
    const withEvents = { ...history, events: [...history.events, eventRecord('death', 4_000, 2, 'killed'), eventRecord('coordinator-restart', 7_000, null, 'resumed')] };
    const svg = renderHistorySvg(withEvents);
    expectBalancedTags(svg);
    expect(polyline(svg, 'train \\(per step\\)', 0).length).toBeLessThanOrEqual(400);
    expect(svg.length).toBeLessThan(100_000);
    expect([...svg.matchAll(/<line class="mark"/g)].length).toBe(4); // 2 events x 2 panels (joins are not marked)
  });

  it('an empty history still gives a valid picture; text is escaped', () => {
    const svg = renderHistorySvg({ run: runRecord({ runId: 'a<b&"c"' }), steps: [], epochs: [], test: null, workers: [], events: [], end: null });
    expectBalancedTags(svg);
    expect(svg).toContain('a&#60;b&#38;&#34;c&#34;');
    expect(svg).not.toContain('<polyline');
  });
});
