/**
 * The end-of-epoch panel: the validation confusion matrix (rows: true label, columns:
 * predicted; cell shade = share of its row) and a strip of misclassified digits drawn
 * from their pixels, each with its true and predicted label. Shows the newest epoch
 * unless the reader picked an older one in the selector.
 */
import type { EpochRecord } from '@convoy/core';
import { formatPercent } from '../format.js';

const CELL = 30;
const LABEL_SPACE = 22;
const DIGIT_SCALE = 2;

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

/** A canvas sized for crisp drawing at the screen's pixel ratio; returns its context in CSS pixels. */
function prepare(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const ratio = devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d')!;
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
}

export function drawConfusion(canvas: HTMLCanvasElement, confusion: readonly number[]): void {
  const classes = Math.round(Math.sqrt(confusion.length));
  const size = LABEL_SPACE + classes * CELL;
  const context = prepare(canvas, size + 4, size + 4);
  context.clearRect(0, 0, size + 4, size + 4);
  context.font = '11px system-ui, sans-serif';
  context.textAlign = 'center';
  context.textBaseline = 'middle';
  for (let row = 0; row < classes; row++) {
    let total = 0;
    for (let column = 0; column < classes; column++) total += confusion[row * classes + column]!;
    context.fillStyle = '#495057';
    context.fillText(String(row), LABEL_SPACE / 2, LABEL_SPACE + row * CELL + CELL / 2);
    context.fillText(String(row), LABEL_SPACE + row * CELL + CELL / 2, LABEL_SPACE / 2);
    for (let column = 0; column < classes; column++) {
      const count = confusion[row * classes + column]!;
      const share = total > 0 ? count / total : 0;
      const x = LABEL_SPACE + column * CELL;
      const y = LABEL_SPACE + row * CELL;
      // Diagonal (right) in blue, confusions in red; the share sets the depth, a square root so small ones show.
      const depth = Math.sqrt(share);
      context.fillStyle = row === column ? `rgba(31, 111, 181, ${0.08 + 0.85 * depth})` : count > 0 ? `rgba(201, 42, 42, ${0.12 + 0.88 * depth})` : '#f8f9fa';
      context.fillRect(x + 1, y + 1, CELL - 2, CELL - 2);
      if (count > 0) {
        context.fillStyle = depth > 0.6 ? '#ffffff' : '#212529';
        context.fillText(count > 999 ? `${(count / 1000).toFixed(1)}k` : String(count), x + CELL / 2, y + CELL / 2);
      }
    }
  }
}

function drawDigit(sample: EpochRecord['misclassified'][number]): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'digit';
  const canvas = document.createElement('canvas');
  const side = Math.round(Math.sqrt(sample.pixels.length)) || 28;
  canvas.width = side;
  canvas.height = side;
  canvas.style.width = `${side * DIGIT_SCALE}px`;
  canvas.style.height = `${side * DIGIT_SCALE}px`;
  const context = canvas.getContext('2d')!;
  if (sample.pixels.length === side * side) {
    const image = context.createImageData(side, side);
    for (let i = 0; i < sample.pixels.length; i++) {
      const grey = 255 - sample.pixels[i]!; // MNIST is white on black; draw ink dark on paper
      image.data[4 * i] = grey;
      image.data[4 * i + 1] = grey;
      image.data[4 * i + 2] = grey;
      image.data[4 * i + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  } else {
    // A resumed run's older epochs keep labels only (history.jsonl stores no pixels).
    context.fillStyle = '#e9ecef';
    context.fillRect(0, 0, side, side);
  }
  const caption = document.createElement('figcaption');
  caption.textContent = `${sample.label} → ${sample.predicted}`;
  caption.title = `validation image ${sample.index}: true ${sample.label}, predicted ${sample.predicted}`;
  figure.append(canvas, caption);
  return figure;
}

export class EpochView {
  private shownKey = '';
  /** Position (in the epoch list) the reader picked, or null to follow the newest. */
  private picked: number | null = null;
  private epochs: readonly EpochRecord[] = [];

  constructor() {
    byId<HTMLSelectElement>('epoch-select').addEventListener('change', (event) => {
      const select = event.target as HTMLSelectElement;
      const value = Number(select.value);
      this.picked = select.selectedIndex === select.options.length - 1 ? null : value;
      this.render(this.epochs);
    });
  }

  render(epochs: readonly EpochRecord[]): void {
    this.epochs = epochs;
    const select = byId<HTMLSelectElement>('epoch-select');
    const optionsKey = epochs.map((epoch) => `${epoch.epoch}@${epoch.step}`).join(',');
    if (select.dataset['key'] !== optionsKey) {
      select.dataset['key'] = optionsKey;
      select.replaceChildren(
        ...epochs.map((epoch, i) => {
          const option = document.createElement('option');
          option.value = String(i);
          option.textContent = `epoch ${epoch.epoch} · step ${epoch.step} · validation ${formatPercent(epoch.validationAccuracy)}`;
          return option;
        }),
      );
    }
    byId('epoch-empty').hidden = epochs.length > 0;
    byId('epoch-body').hidden = epochs.length === 0;
    if (epochs.length === 0) return;
    const index = this.picked === null ? epochs.length - 1 : Math.min(this.picked, epochs.length - 1);
    select.selectedIndex = index;
    const epoch = epochs[index]!;
    const key = `${index}:${epoch.epoch}@${epoch.step}:${epoch.misclassified.length}`;
    if (key === this.shownKey) return;
    this.shownKey = key;
    drawConfusion(byId<HTMLCanvasElement>('confusion'), epoch.confusion);
    byId('epoch-summary').textContent =
      `validation loss ${epoch.validationLoss.toPrecision(4)}, accuracy ${formatPercent(epoch.validationAccuracy)} · ` +
      `train loss ${epoch.trainLoss.toPrecision(4)}, accuracy ${formatPercent(epoch.trainAccuracy)}`;
    const strip = byId('misclassified');
    strip.replaceChildren(...epoch.misclassified.map(drawDigit));
    byId('misclassified-empty').hidden = epoch.misclassified.length > 0;
  }
}
