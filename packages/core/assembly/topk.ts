/**
 * The first pass of a worker's top-k upload (src/wire/topk.ts, TopKAccumulator): the
 * residual add and the collection of the candidates at or above a floor, four entries at a
 * time. Bit for bit the TypeScript pass: one float32 add per entry (no fused operation),
 * and the same test, `!(|value| < floor)`, which also takes a NaN.
 */

/**
 * residual[i] += gradient[i] for i < length; writes the indices i with !(|residual[i]| <
 * floor), ascending, as u32 from `out`, and their magnitude bits (the float's bits, sign
 * cleared) from `outMagnitudes`; returns how many. A floor of +Infinity only adds (and
 * returns 0: not even a NaN is collected).
 */
export function topkAccumulate(length: i32, residual: usize, gradient: usize, floor: f32, out: usize, outMagnitudes: usize): i32 {
  if (floor == f32.POSITIVE_INFINITY) {
    add(length, residual, gradient);
    return 0;
  }
  const floors = f32x4.splat(floor);
  let count = 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const value = f32x4.add(v128.load(residual + offset), v128.load(gradient + offset));
    v128.store(residual + offset, value);
    // Below the floor in every lane (the common case): nothing to collect.
    if (i32x4.all_true(f32x4.lt(f32x4.abs(value), floors))) continue;
    for (let lane = 0; lane < 4; lane++) {
      const at = residual + offset + (<usize>lane << 2);
      if (!(Mathf.abs(load<f32>(at)) < floor)) {
        store<u32>(out + (<usize>count << 2), i + lane);
        store<u32>(outMagnitudes + (<usize>count << 2), load<u32>(at) & 0x7fffffff);
        count++;
      }
    }
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const value = load<f32>(residual + offset) + load<f32>(gradient + offset);
    store<f32>(residual + offset, value);
    if (!(Mathf.abs(value) < floor)) {
      store<u32>(out + (<usize>count << 2), i);
      store<u32>(outMagnitudes + (<usize>count << 2), reinterpret<u32>(value) & 0x7fffffff);
      count++;
    }
  }
  return count;
}

/** residual[i] += gradient[i] for i < length. */
function add(length: i32, residual: usize, gradient: usize): void {
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    v128.store(residual + offset, f32x4.add(v128.load(residual + offset), v128.load(gradient + offset)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    store<f32>(residual + offset, load<f32>(residual + offset) + load<f32>(gradient + offset));
  }
}
