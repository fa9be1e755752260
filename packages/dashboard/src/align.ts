/**
 * uPlot draws series that share one x array. Convoy's curves do not: per-step training
 * points (downsampled), validation points at epoch ends, one test point. This puts them
 * on the union of their x values, with null where a curve has no point (uPlot leaves a
 * gap there, or joins across it with `spanGaps`).
 */

export interface Column {
  /** Increasing. */
  readonly xs: ArrayLike<number>;
  readonly ys: ArrayLike<number>;
}

export type AlignedColumns = [number[], ...(number | null)[][]];

export function alignColumns(columns: readonly Column[]): AlignedColumns {
  const all: number[] = [];
  for (const column of columns) for (let i = 0; i < column.xs.length; i++) all.push(column.xs[i]!);
  all.sort((a, b) => a - b);
  const xs: number[] = [];
  for (const x of all) if (xs.length === 0 || x !== xs[xs.length - 1]) xs.push(x);
  const aligned: AlignedColumns = [xs];
  for (const column of columns) {
    const ys: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    let position = 0;
    for (let i = 0; i < column.xs.length; i++) {
      const x = column.xs[i]!;
      while (xs[position]! < x) position++;
      ys[position] = column.ys[i]!;
    }
    aligned.push(ys);
  }
  return aligned;
}
