/**
 * The live charts (uPlot): loss and accuracy against the step, training per step raw
 * (light) and EMA-smoothed (the slider), validation at epoch ends, test at the end, run
 * events as vertical marks, and a dashed 99% line on the accuracy chart; and below them
 * the learning rate each step applied.
 */
import type { RunState } from '../run-state.js';
import type { Overlay } from './overlay.js';
import { alignColumns, type Column } from '../align.js';
import { accuracyAxisFloor, percentLabel } from '../scales.js';
import { emaSmooth } from '../smoothing.js';
import { EVENT_STYLE } from '../event-style.js';
import uPlot from 'uplot';

const HEIGHT = 280;
const SMALL_HEIGHT = 150;
const COLORS = { trainRaw: '#a5c8ec', train: '#1f6fb5', validation: '#d9480f', test: '#2b8a3e', reference: '#868e96', overlay: '#7950f2' };

type MarksSource = () => RunState;

/**
 * Steps from 0, so joins before the first step (step 0) show as marks at the left edge.
 * NOTE: uPlot calls this for a drag-zoom too: a zoom that starts past step 1 is kept.
 */
const STEP_SCALE: uPlot.Scale = {
  time: false,
  range: (_chart, min, max) => [Number.isFinite(min) && min > 1 ? min : 0, Number.isFinite(max) && max > 0 ? max : 1],
};

function eventMarks(source: MarksSource): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (chart: uPlot) => {
          const context = chart.ctx;
          const { top, height, left, width } = chart.bbox;
          context.save();
          context.lineWidth = Math.max(1, devicePixelRatio);
          let drawn = 0;
          for (const event of source().events) {
            const x = Math.round(chart.valToPos(event.step, 'x', true));
            if (x < left || x > left + width) continue;
            const style = EVENT_STYLE[event.event];
            context.strokeStyle = style.color;
            context.setLineDash(style.dash.map((length) => length * devicePixelRatio));
            context.beginPath();
            context.moveTo(x, top);
            context.lineTo(x, top + height);
            context.stroke();
            drawn++;
          }
          context.restore();
          // What is on the canvas, for tests (a canvas cannot be read back as marks).
          chart.root.dataset['marks'] = String(drawn);
        },
      ],
    },
  };
}

function referenceLine(level: number): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (chart: uPlot) => {
          const y = Math.round(chart.valToPos(level, 'y', true));
          const { left, width, top, height } = chart.bbox;
          if (y < top || y > top + height) return;
          const context = chart.ctx;
          context.save();
          context.strokeStyle = COLORS.reference;
          context.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          context.lineWidth = Math.max(1, devicePixelRatio);
          context.beginPath();
          context.moveTo(left, y);
          context.lineTo(left + width, y);
          context.stroke();
          context.fillStyle = COLORS.reference;
          context.font = `${11 * devicePixelRatio}px sans-serif`;
          context.textAlign = 'right';
          context.fillText(`${level * 100}%`, left + width - 4 * devicePixelRatio, y - 4 * devicePixelRatio);
          context.restore();
        },
      ],
    },
  };
}

function seriesOptions(valueFormat: (value: number | null) => string): uPlot.Series[] {
  const value = (_chart: uPlot, raw: number | null) => valueFormat(raw);
  return [
    { label: 'step', value: (_chart, raw) => (raw === null ? '–' : String(raw)) },
    { label: 'train', stroke: COLORS.trainRaw, width: 1, value, points: { show: false } },
    { label: 'train EMA', stroke: COLORS.train, width: 2, value, points: { show: false } },
    { label: 'validation', stroke: COLORS.validation, width: 2, spanGaps: true, value, points: { show: true, size: 7, fill: COLORS.validation } },
    { label: 'test', stroke: COLORS.test, width: 0, value, points: { show: true, size: 9, fill: COLORS.test } },
    // A finished run picked in the overlay select (overlay.ts): its EMA and its validation points, dashed.
    { label: 'overlay EMA', stroke: COLORS.overlay, width: 1.5, dash: [6, 4], spanGaps: true, value, points: { show: false } },
    { label: 'overlay validation', stroke: COLORS.overlay, width: 1, dash: [2, 3], spanGaps: true, value, points: { show: true, size: 6, fill: COLORS.overlay } },
  ];
}

/** One chart; keeps a user's drag-zoom until a double click resets it. */
class LiveChart {
  readonly plot: uPlot;
  private zoomed = false;

  constructor(container: HTMLElement, options: Omit<uPlot.Options, 'width' | 'height'>, height = HEIGHT) {
    const width = Math.max(300, container.clientWidth);
    this.plot = new uPlot(
      {
        ...options,
        width,
        height,
        hooks: { setSelect: [(chart) => (this.zoomed ||= chart.select.width > 0)] },
      },
      options.series.map(() => []) as unknown as uPlot.AlignedData,
      container,
    );
    this.plot.over.addEventListener('dblclick', () => (this.zoomed = false));
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(300, container.clientWidth), height })).observe(container);
  }

  setData(columns: readonly Column[]): void {
    const aligned = alignColumns(columns);
    this.plot.setData(aligned as uPlot.AlignedData, !this.zoomed);
    // Away from the cursor, the legend reads out the newest values (not dashes).
    if (this.plot.cursor.idx === null || this.plot.cursor.idx === undefined) {
      if (aligned[0].length > 0) this.plot.setLegend({ idx: aligned[0].length - 1 });
    }
  }
}

export class Charts {
  private readonly loss: LiveChart;
  private readonly accuracy: LiveChart;
  private readonly learningRate: LiveChart;

  constructor(lossContainer: HTMLElement, accuracyContainer: HTMLElement, learningRateContainer: HTMLElement, source: MarksSource) {
    const axes = (label: string, values?: uPlot.Axis['values']): uPlot.Axis[] => [
      { label: 'step', labelSize: 18, size: 36 },
      { label, labelSize: 18, size: 56, ...(values === undefined ? {} : { values }) },
    ];
    this.loss = new LiveChart(lossContainer, {
      scales: { x: STEP_SCALE, y: { range: (_chart, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
      axes: axes('cross-entropy'),
      series: seriesOptions((value) => (value === null ? '–' : value.toPrecision(4))),
      plugins: [eventMarks(source)],
      legend: { live: true },
    });
    this.accuracy = new LiveChart(accuracyContainer, {
      // From a round tenth below the lowest point up to 100%, so the 99% line is always in view.
      scales: { x: STEP_SCALE, y: { range: (_chart, min) => [accuracyAxisFloor(min), 1] } },
      axes: axes('accuracy', (_chart, ticks) => ticks.map(percentLabel)),
      series: seriesOptions((value) => (value === null ? '–' : `${(value * 100).toFixed(2)}%`)),
      plugins: [eventMarks(source), referenceLine(0.99)],
      legend: { live: true },
    });
    this.learningRate = new LiveChart(
      learningRateContainer,
      {
        scales: { x: STEP_SCALE, y: { range: (_chart, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: axes('learning rate', (_chart, ticks) => ticks.map((tick) => String(Number(tick.toPrecision(3))))),
        series: [
          { label: 'step', value: (_chart, raw) => (raw === null ? '–' : String(raw)) },
          { label: 'learning rate', stroke: COLORS.train, width: 2, value: (_chart, raw) => (raw === null ? '–' : raw.toPrecision(4)), points: { show: false } },
        ],
        plugins: [eventMarks(source)],
        legend: { live: true },
      },
      SMALL_HEIGHT,
    );
  }

  /** Number of x positions drawn on the loss chart (the browser test watches it grow). */
  get lossPointCount(): number {
    return this.loss.plot.data[0]?.length ?? 0;
  }

  /** Points of the overlay's training curve on the loss chart (the browser test reads it). */
  overlayPoints = 0;

  update(state: RunState, smoothing: number, overlay: Overlay | null = null): void {
    const past = overlay?.history ?? null;
    const pastSteps = past?.steps ?? [];
    const pastStepXs = pastSteps.map((step) => step.step);
    const pastEpochs = past?.epochs ?? [];
    const pastEpochXs = pastEpochs.map((epoch) => epoch.step);
    this.overlayPoints = pastSteps.length;
    const overlayColumns = (train: (step: (typeof pastSteps)[number]) => number, validation: (epoch: (typeof pastEpochs)[number]) => number) => [
      { xs: pastStepXs, ys: emaSmooth(pastStepXs, pastSteps.map(train), smoothing) },
      { xs: pastEpochXs, ys: pastEpochs.map(validation) },
    ];
    const epochs = state.epochs;
    const test = state.test;
    const epochSteps = epochs.map((epoch) => epoch.step);
    this.loss.setData([
      { xs: state.loss.xs, ys: state.loss.ys },
      { xs: state.loss.xs, ys: emaSmooth(state.loss.xs, state.loss.ys, smoothing) },
      { xs: epochSteps, ys: epochs.map((epoch) => epoch.validationLoss) },
      { xs: test === null ? [] : [test.step], ys: test === null ? [] : [test.loss] },
      ...overlayColumns((step) => step.loss, (epoch) => epoch.validationLoss),
    ]);
    this.accuracy.setData([
      { xs: state.accuracy.xs, ys: state.accuracy.ys },
      { xs: state.accuracy.xs, ys: emaSmooth(state.accuracy.xs, state.accuracy.ys, smoothing) },
      { xs: epochSteps, ys: epochs.map((epoch) => epoch.validationAccuracy) },
      { xs: test === null ? [] : [test.step], ys: test === null ? [] : [test.accuracy] },
      ...overlayColumns((step) => step.accuracy, (epoch) => epoch.validationAccuracy),
    ]);
    this.learningRate.setData([{ xs: state.learningRate.xs, ys: state.learningRate.ys }]);
  }
}
