import { describe, expect, it } from 'vitest';
import { finalNumbers, niceTicks, renderHistorySvg } from './history-svg.js';
import { START_TIME, eventRecord, fixtureHistory, runRecord } from './testing/history-fixture.js';

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
    // The accuracy axis's tick labels (right panel, in percent) give its scale; 0.99 is interpolated from two of them.
    const ticks = [...svg.matchAll(/<text x="(\d+(?:\.\d+)?)" y="(\d+(?:\.\d+)?)" font-size="11" text-anchor="end" fill="#495057">([\d.]+)%<\/text>/g)]
      .filter((match) => Number(match[1]) > 480)
      .map((match) => ({ y: Number(match[2]) - 4, value: Number(match[3]) / 100 }));
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

  it('labels its marks: the resume line says where the run resumed, a death names the worker, in the event colours', () => {
    const history = fixtureHistory(100);
    const svg = renderHistorySvg({ ...history, events: [...history.events, eventRecord('coordinator-restart', 60, null, 'resumed from step 60'), eventRecord('death', 30, 2, 'killed')] });
    expectBalancedTags(svg);
    const labels = [...svg.matchAll(/<text class="mark-label"[^>]*fill="([^"]+)"[^>]*>([^<]*)<\/text>/g)].map((match) => [match[2], match[1]]);
    // One label per mark per panel, in step order; the colours are the dashboard's (event-style.ts).
    expect(labels).toEqual([
      ['death worker 2', '#c92a2a'],
      ['resumed at step 60', '#7048e8'],
      ['death worker 2', '#c92a2a'],
      ['resumed at step 60', '#7048e8'],
    ]);
    // Each label stands on its own line: x of the label = x of the line - 3 (plot from 58 to 464 over 100 steps).
    const restartLine = svg.match(/<line class="mark" x1="([\d.]+)"[^>]*stroke="#7048e8"/)!;
    expect(Number(restartLine[1])).toBeCloseTo(58 + 0.6 * 406, 0);
    // Marks too close to label both (1 step apart at 4 px a step) keep the first label only; both lines stay.
    const crowded = renderHistorySvg({ ...history, events: [eventRecord('death', 50, 1, 'a'), eventRecord('leave', 51, 2, 'b')] });
    expect([...crowded.matchAll(/<line class="mark"/g)].length).toBe(4);
    expect([...crowded.matchAll(/class="mark-label"[^>]*>([^<]*)</g)].map((match) => match[1])).toEqual(['death worker 1', 'death worker 1']);
  });

  it('the accuracy axis is the dashboard\'s: lower end a round tenth below the lowest point (at most 90%), labels in percent', () => {
    // Fixture accuracy 1 - 0.9/(1 + step/10): lowest at step 1, 1 - 0.9/1.1 = 0.1818...: the axis starts at 10%.
    const svg = renderHistorySvg(fixtureHistory(100));
    const labels = [...svg.matchAll(/<text x="(\d+(?:\.\d+)?)" y="([\d.]+)" font-size="11" text-anchor="end" fill="#495057">([^<]*)<\/text>/g)]
      .filter((match) => Number(match[1]) > 480)
      .map((match) => ({ y: Number(match[2]) - 4, label: match[3] }));
    expect(labels.map((tick) => tick.label)).toEqual(['20%', '40%', '60%', '80%', '100%']);
    // Plot from y=44 (100%) down 292 px to the floor: 20% sits 0.1/0.9 of the way up from a 10% floor.
    expect(labels[0]!.y).toBeCloseTo(44 + (0.8 / 0.9) * 292, 0);
    // A run that starts at 95%: the axis still shows the 99% line with 90% below it.
    const high = fixtureHistory(100);
    const svgHigh = renderHistorySvg({ ...high, steps: high.steps.map((step) => ({ ...step, accuracy: 0.95 + step.step / 10_000 })), epochs: [] });
    const highLabels = [...svgHigh.matchAll(/<text x="(\d+(?:\.\d+)?)" y="[\d.]+" font-size="11" text-anchor="end" fill="#495057">([^<]*)<\/text>/g)]
      .filter((match) => Number(match[1]) > 480)
      .map((match) => match[2]);
    expect(highLabels[0]).toBe('90%');
    expect(highLabels.at(-1)).toBe('100%');
  });

  it('prints the final numbers: state, step, epoch, time, validation and test, and the test values beside the test point', () => {
    const history = fixtureHistory(100); // epochs every 10 steps; epoch 10 at step 100, elapsed 10 s (step / 10)
    const finished = {
      ...history,
      test: { kind: 'test' as const, step: 100, loss: 0.04321, accuracy: 0.9876, count: 100, time: START_TIME + 100 * 100 + 2_050 },
      end: { kind: 'end' as const, reason: 'finished' as const, step: 100, detail: '', time: START_TIME + 100 * 100 + 5_050 },
    };
    // Validation of epoch 10: loss 1.1/10, accuracy 1 - 0.11/10; time: 10 s at the last epoch + 5 s until the end.
    const expected = 'finished at step 100 (epoch 10 of 10) in 0:15 · validation loss 0.1100, accuracy 98.90% · test loss 0.04321, accuracy 98.76%';
    expect(finalNumbers(finished)).toBe(expected);
    const svg = renderHistorySvg(finished);
    expect(svg).toContain(`>${expected}</text>`);
    expect([...svg.matchAll(/<text class="final"[^>]*>(test [^<]*)<\/text>/g)].map((match) => match[1])).toEqual(['test 0.04321', 'test 98.76%']);
    // Without an end record (a killed run), the last record is what it says.
    expect(finalNumbers(fixtureHistory(5))).toBe('last record at step 5 (epoch 1 of 1) · train loss 1.333, accuracy 40.00% (last step)');
  });

  it('an empty history still gives a valid picture; text is escaped', () => {
    const svg = renderHistorySvg({ run: runRecord({ runId: 'a<b&"c"' }), steps: [], epochs: [], test: null, workers: [], events: [], end: null });
    expectBalancedTags(svg);
    expect(svg).toContain('a&#60;b&#38;&#34;c&#34;');
    expect(svg).not.toContain('<polyline');
  });
});
