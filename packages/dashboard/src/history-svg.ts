/**
 * The picture of a run that stays in its folder (history.svg), as the seed project saved
 * its history plot: loss on the left, accuracy on the right, step on the x axis.
 * Training per step (raw, light, min/max-downsampled to a few hundred buckets, and its
 * EMA), validation at each epoch end, test at the end (its value written beside it), a
 * dashed 99% line, and thin vertical marks, each labelled, where workers died or left and
 * where the coordinator restarted (a resume). The accuracy axis is the dashboard's
 * (scales.ts, in percent); the last line prints the final numbers.
 * A plain SVG string: no DOM, no fonts beyond the viewer's sans-serif.
 */
import { minMaxDownsample } from './downsample.js';
import { EVENT_STYLE } from './event-style.js';
import { formatCount, formatDuration, formatPercent } from './format.js';
import type { History } from './history-export.js';
import { accuracyAxisFloor, percentLabel } from './scales.js';
import { emaSmooth } from './smoothing.js';

const WIDTH = 960;
const HEIGHT = 404;
const PANEL_WIDTH = WIDTH / 2;
/** The bottom margin holds the step axis's labels and, below them, the final numbers. */
const MARGIN = { left: 58, right: 16, top: 44, bottom: 68 };
/** Mark labels closer than this to the previous labelled mark (px) are left to the line's tooltip. */
const MARK_LABEL_GAP = 14;
/** Buckets of the downsampled raw curve: about one per two pixels of plot width. */
const RAW_BUCKETS = 200;
const SMOOTHING = 0.9;

export const SVG_COLORS = {
  trainRaw: '#9ec5e8',
  train: '#1f6fb5',
  validation: '#d9480f',
  test: '#2b8a3e',
  reference: '#868e96',
  grid: '#e9ecef',
  axis: '#495057',
} as const;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Round numbers spaced 1, 2 or 5 x 10^k apart covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const spacing = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let tick = Math.ceil(min / spacing) * spacing; tick <= max + spacing * 1e-9; tick += spacing) {
    ticks.push(Number(tick.toPrecision(12)));
  }
  return ticks;
}

/** A run event drawn as a vertical line, with the words it is labelled with. */
interface Mark {
  readonly step: number;
  readonly color: string;
  readonly dash: string;
  readonly label: string;
}

function tickLabel(value: number): string {
  return Math.abs(value) >= 1000 ? value.toLocaleString('en-US') : String(Number(value.toPrecision(6)));
}

interface Curve {
  readonly xs: readonly number[];
  readonly ys: readonly number[];
  readonly color: string;
  readonly width: number;
  readonly label: string;
  /** Circles at the points (sparse curves: validation, test). */
  readonly markers?: boolean;
}

interface Panel {
  readonly title: string;
  readonly curves: readonly Curve[];
  readonly yMin: number;
  readonly yMax: number;
  readonly reference?: number;
  /** The y axis's tick labels (default: the plain number). */
  readonly yLabel?: (value: number) => string;
  /** Written beside the test point (its value). */
  readonly testLabel?: string;
}

function renderPanel(panel: Panel, offsetX: number, xMax: number, marks: readonly Mark[]): string {
  const plotWidth = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const left = offsetX + MARGIN.left;
  const x = (step: number) => left + (xMax > 0 ? (step / xMax) * plotWidth : 0);
  const y = (value: number) => MARGIN.top + (1 - (value - panel.yMin) / (panel.yMax - panel.yMin)) * plotHeight;
  const round = (value: number) => Math.round(value * 10) / 10;
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="18" font-size="14" font-weight="600" fill="${SVG_COLORS.axis}">${escapeXml(panel.title)}</text>`);
  for (const tick of niceTicks(panel.yMin, panel.yMax)) {
    parts.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${round(y(tick))}" y2="${round(y(tick))}" stroke="${SVG_COLORS.grid}"/>`);
    parts.push(`<text x="${left - 6}" y="${round(y(tick)) + 4}" font-size="11" text-anchor="end" fill="${SVG_COLORS.axis}">${(panel.yLabel ?? tickLabel)(tick)}</text>`);
  }
  for (const tick of niceTicks(0, xMax)) {
    parts.push(`<text x="${round(x(tick))}" y="${HEIGHT - MARGIN.bottom + 16}" font-size="11" text-anchor="middle" fill="${SVG_COLORS.axis}">${tickLabel(tick)}</text>`);
  }
  parts.push(`<text x="${left + plotWidth / 2}" y="${HEIGHT - MARGIN.bottom + 32}" font-size="12" text-anchor="middle" fill="${SVG_COLORS.axis}">step</text>`);
  parts.push(`<rect x="${left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="${SVG_COLORS.axis}"/>`);
  let lastLabelled = Number.NEGATIVE_INFINITY;
  for (const mark of marks) {
    const at = round(x(mark.step));
    const label = escapeXml(mark.label);
    parts.push(
      `<line class="mark" x1="${at}" x2="${at}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="${mark.color}" stroke-dasharray="${mark.dash}"><title>${label}</title></line>`,
    );
    if (at - lastLabelled < MARK_LABEL_GAP) continue;
    lastLabelled = at;
    // Written up the line, from near the bottom of the plot, so it never covers the legend.
    const baseline = MARGIN.top + plotHeight - 4;
    parts.push(`<text class="mark-label" x="${at - 3}" y="${baseline}" font-size="10" fill="${mark.color}" transform="rotate(-90 ${at - 3} ${baseline})">${label}</text>`);
  }
  if (panel.reference !== undefined) {
    const level = round(y(panel.reference));
    parts.push(`<line class="reference" x1="${left}" x2="${left + plotWidth}" y1="${level}" y2="${level}" stroke="${SVG_COLORS.reference}" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${left + plotWidth - 4}" y="${level - 4}" font-size="11" text-anchor="end" fill="${SVG_COLORS.reference}">${tickLabel(panel.reference * 100)}%</text>`);
  }
  let legendX = left + 4;
  for (const curve of panel.curves) {
    if (curve.xs.length === 0) continue;
    const points = curve.xs.map((step, i) => `${round(x(step))},${round(y(curve.ys[i]!))}`);
    const label = escapeXml(curve.label);
    parts.push(`<polyline data-series="${label}" fill="none" stroke="${curve.color}" stroke-width="${curve.width}" stroke-linejoin="round" points="${points.join(' ')}"/>`);
    if (curve.markers === true) {
      for (const point of points) {
        const [cx, cy] = point.split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${curve.color}"/>`);
      }
    }
    if (curve.label === 'test' && panel.testLabel !== undefined) {
      const [cx, cy] = points[0]!.split(',').map(Number) as [number, number];
      // Above the point, or below it near the top (where the 99% line's label is).
      const labelY = cy - MARGIN.top < 28 ? cy + 16 : cy - 7;
      parts.push(`<text class="final" x="${cx - 6}" y="${labelY}" font-size="11" text-anchor="end" fill="${curve.color}">${escapeXml(panel.testLabel)}</text>`);
    }
    parts.push(`<rect x="${legendX}" y="28" width="12" height="3" fill="${curve.color}"/>`);
    parts.push(`<text x="${legendX + 16}" y="33" font-size="11" fill="${SVG_COLORS.axis}">${label}</text>`);
    legendX += 22 + 6.5 * curve.label.length;
  }
  return parts.join('\n');
}

function range(values: readonly number[], fallback: [number, number]): [number, number] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  return low <= high ? [low, high] : fallback;
}

/**
 * The run's last word in one line: "finished at step 1,880 (epoch 2 of 2) in 3:05 ·
 * validation loss 0.04123, accuracy 98.80% · test loss 0.03512, accuracy 99.02%".
 */
export function finalNumbers(history: History): string {
  const lastStep = history.steps.at(-1);
  const lastEpoch = history.epochs.at(-1);
  const step = history.end?.step ?? lastStep?.step ?? lastEpoch?.step ?? 0;
  const state = history.end === null ? 'last record' : history.end.reason;
  const epochs = history.run === null ? '' : ` (epoch ${lastStep?.epoch ?? lastEpoch?.epoch ?? 0} of ${history.run.epochs})`;
  // Epoch records carry the run's elapsed seconds (across restarts); the end adds what came after the last one.
  const seconds = lastEpoch === undefined ? null : lastEpoch.elapsedSeconds + Math.max(0, ((history.end?.time ?? lastEpoch.time) - lastEpoch.time) / 1000);
  const parts = [`${state} at step ${formatCount(step)}${epochs}${seconds === null ? '' : ` in ${formatDuration(seconds)}`}`];
  if (lastEpoch !== undefined) parts.push(`validation loss ${lastEpoch.validationLoss.toPrecision(4)}, accuracy ${formatPercent(lastEpoch.validationAccuracy)}`);
  else if (lastStep !== undefined) parts.push(`train loss ${lastStep.loss.toPrecision(4)}, accuracy ${formatPercent(lastStep.accuracy)} (last step)`);
  if (history.test !== null) parts.push(`test loss ${history.test.loss.toPrecision(4)}, accuracy ${formatPercent(history.test.accuracy)}`);
  return parts.join(' · ');
}

/** The SVG document (loss and accuracy side by side, 960 x 404). */
export function renderHistorySvg(history: History): string {
  const steps = history.steps;
  const xs = steps.map((record) => record.step);
  const losses = steps.map((record) => record.loss);
  const accuracies = steps.map((record) => record.accuracy);
  const bucket = Math.max(2, Math.ceil(steps.length / RAW_BUCKETS));
  const thin = (ys: number[]) => (steps.length > 2 * RAW_BUCKETS ? minMaxDownsample(xs, ys, bucket) : { xs, ys });
  const smooth = (ys: number[]) => {
    const smoothed = Array.from(emaSmooth(xs, ys, SMOOTHING));
    // The smoothed curve has no spikes: every bucket-th point is enough.
    const keep = (_: number, i: number) => i % bucket === 0 || i === smoothed.length - 1;
    return steps.length > 2 * RAW_BUCKETS ? { xs: xs.filter(keep), ys: smoothed.filter(keep) } : { xs, ys: smoothed };
  };
  const epochs = history.epochs;
  const test = history.test;
  const xMax = Math.max(1, xs.at(-1) ?? 0, ...epochs.map((epoch) => epoch.step), test?.step ?? 0);
  const marks: Mark[] = history.events
    .filter((event) => event.event !== 'join' && event.event !== 'deadline-miss')
    .map((event) => {
      const style = EVENT_STYLE[event.event];
      const who = event.workerId === null ? '' : ` worker ${event.workerId}`;
      const what = event.event === 'coordinator-restart' ? `resumed at step ${formatCount(event.step)}` : `${style.label}${who}`;
      return { step: event.step, color: style.color, dash: style.dash.length > 0 ? style.dash.join(' ') : '2 3', label: what };
    })
    .sort((a, b) => a.step - b.step);

  const lossRange = range([...losses, ...epochs.map((epoch) => epoch.validationLoss), ...(test ? [test.loss] : [])], [0, 1]);
  const accuracyRange = range([...accuracies, ...epochs.map((epoch) => epoch.validationAccuracy), ...(test ? [test.accuracy] : [])], [0, 1]);
  const lossPanel: Panel = {
    title: 'Loss (cross-entropy)',
    yMin: 0,
    // 5% headroom so the highest point does not sit on the frame.
    yMax: lossRange[1] > 0 ? lossRange[1] * 1.05 : 1,
    curves: [
      { ...thin(losses), color: SVG_COLORS.trainRaw, width: 1, label: 'train (per step)' },
      { ...smooth(losses), color: SVG_COLORS.train, width: 2, label: `train EMA ${SMOOTHING}` },
      { xs: epochs.map((epoch) => epoch.step), ys: epochs.map((epoch) => epoch.validationLoss), color: SVG_COLORS.validation, width: 2, label: 'validation', markers: true },
      { xs: test ? [test.step] : [], ys: test ? [test.loss] : [], color: SVG_COLORS.test, width: 2, label: 'test', markers: true },
    ],
    ...(test ? { testLabel: `test ${test.loss.toPrecision(4)}` } : {}),
  };
  const accuracyPanel: Panel = {
    title: 'Accuracy',
    // The dashboard's axis: the same floor, the same percent labels.
    yMin: accuracyAxisFloor(accuracyRange[0]),
    yMax: 1,
    reference: 0.99,
    yLabel: percentLabel,
    ...(test ? { testLabel: `test ${formatPercent(test.accuracy)}` } : {}),
    curves: [
      { ...thin(accuracies), color: SVG_COLORS.trainRaw, width: 1, label: 'train (per step)' },
      { ...smooth(accuracies), color: SVG_COLORS.train, width: 2, label: `train EMA ${SMOOTHING}` },
      { xs: epochs.map((epoch) => epoch.step), ys: epochs.map((epoch) => epoch.validationAccuracy), color: SVG_COLORS.validation, width: 2, label: 'validation', markers: true },
      { xs: test ? [test.step] : [], ys: test ? [test.accuracy] : [], color: SVG_COLORS.test, width: 2, label: 'test', markers: true },
    ],
  };
  const subtitle = history.run === null ? '' : `${history.run.runId} · ${xs.length} steps`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<title>Convoy training history${subtitle ? ` (${escapeXml(subtitle)})` : ''}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    renderPanel(lossPanel, 0, xMax, marks),
    renderPanel(accuracyPanel, PANEL_WIDTH, xMax, marks),
    `<text class="final" x="${MARGIN.left}" y="${HEIGHT - 10}" font-size="12" fill="${SVG_COLORS.axis}">${escapeXml(finalNumbers(history))}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
