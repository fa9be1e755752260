/**
 * Number formatting for the page. Every label keeps a steady width as its value changes
 * (the page also sets `font-variant-numeric: tabular-nums`), so nothing shifts.
 */
import { describeLayer, type ModelSpec } from '@convoy/core';

/** "1:02:03" or "2:03"; "–" for unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '–';
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** 12,345 */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Bytes in B, KB, MB, GB (powers of 1024), one decimal above bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A link's bandwidth from megabits per second (10^6 bits): "94.1 Mbit/s", "1.25 Gbit/s"; "–" while unmeasured. */
export function formatBandwidth(megabitsPerSecond: number | undefined): string {
  if (megabitsPerSecond === undefined || !(megabitsPerSecond > 0)) return '–';
  if (megabitsPerSecond >= 1000) return `${(megabitsPerSecond / 1000).toFixed(2)} Gbit/s`;
  return `${megabitsPerSecond.toFixed(megabitsPerSecond < 100 ? 1 : 0)} Mbit/s`;
}

/** A loss or a rate with 4 significant digits; accuracy as a percentage with 2 decimals. */
export function formatValue(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toPrecision(4);
}

export function formatPercent(fraction: number | null | undefined): string {
  return fraction === null || fraction === undefined || !Number.isFinite(fraction) ? '–' : `${(100 * fraction).toFixed(2)}%`;
}

/** One line per model: "conv2d 32 3×3 relu → maxpool 2×2 → … → dense 10 softmax" (each layer as its declaration describes it). */
export function describeSpec(spec: ModelSpec): string {
  return [`input ${spec.input.join('×')}`, ...spec.layers.map(describeLayer)].join(' → ');
}
