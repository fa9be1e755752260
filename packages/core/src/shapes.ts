/**
 * Shape arithmetic shared by every layer and every kernel backend.
 * One place decides output sizes and padding, so the backends cannot disagree.
 */

export interface Extent {
  /** Output size along this axis. */
  readonly out: number;
  /** Padding before the first input element (top or left). */
  readonly padBefore: number;
  /** Padding after the last input element (bottom or right). */
  readonly padAfter: number;
}

/**
 * Output size and padding of a convolution or pooling window along one axis.
 * 'valid': out = floor((in - k) / s) + 1, no padding.
 * 'same':  out = ceil(in / s), total padding = max((out - 1) * s + k - in, 0), the odd
 *          pixel after (TensorFlow's rule, so Keras-trained weights line up).
 * A result with out < 1 is returned as is; callers reject it with the layer's name.
 */
export function windowExtent(inSize: number, kernel: number, stride: number, padding: 'valid' | 'same'): Extent {
  if (padding === 'same') {
    const out = Math.ceil(inSize / stride);
    const total = Math.max((out - 1) * stride + kernel - inSize, 0);
    const padBefore = Math.floor(total / 2);
    return { out, padBefore, padAfter: total - padBefore };
  }
  return { out: Math.floor((inSize - kernel) / stride) + 1, padBefore: 0, padAfter: 0 };
}

export function pair(value: number | readonly [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}

export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
