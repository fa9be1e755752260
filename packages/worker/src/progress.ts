/**
 * The progress line a worker prints while slices arrive (slices, images, images/s), at most
 * once per `progressEveryMs`: a remote worker's terminal is not silent, nor flooded.
 */

/** The slices counted since `since` (Unix ms), and the epoch of the last one. */
export interface ProgressCount {
  since: number;
  steps: number;
  images: number;
  epoch: number;
}

/**
 * Counts one slice of `images` images. Returns the line to print, and starts a new count,
 * once `everyMs` has passed since the count began; otherwise (or when everyMs <= 0) null.
 */
export function countSlice(progress: ProgressCount, epoch: number, images: number, everyMs: number): string | null {
  progress.steps++;
  progress.images += images;
  progress.epoch = epoch;
  const elapsed = Date.now() - progress.since;
  if (everyMs <= 0 || elapsed < everyMs) return null;
  const line =
    `epoch ${epoch}, ${progress.steps} slices (${progress.images} images) in ${Math.round(elapsed / 1000)} s, ` +
    `${Math.round((1000 * progress.images) / elapsed)} images/s`;
  Object.assign(progress, { since: Date.now(), steps: 0, images: 0, epoch });
  return line;
}
