/**
 * The accuracy axis, one definition for the live charts and history.svg: from a round
 * tenth below the lowest point (never above 90%, so the 99% line is always in view) up to
 * 100%, labelled in percent.
 */

/** The axis's lower end for the lowest accuracy drawn (a fraction; NaN or none: 0). */
export function accuracyAxisFloor(lowest: number): number {
  return Math.max(0, Math.min(0.9, Math.floor((Number.isFinite(lowest) ? lowest : 0) * 10) / 10));
}

/** A fraction as an axis label: 0.95 -> "95%", 0.985 -> "98.5%". */
export function percentLabel(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10}%`;
}
