/**
 * The replica update (src/wire/replica.ts) in f32x4: bit for bit what the TypeScript code
 * computes with Math.fround after every operation, four entries at a time.
 *
 * NOTE: exact only because every operation here is a single IEEE float32 operation
 * (add, sub, mul, div, sqrt: correctly rounded in wasm, as fround(float64 op) is in JS), in
 * the TypeScript code's order, with no fused multiply-add: never use `madd` (ops.ts) here,
 * and keep the TypeScript and this file in step (replica-kernel.test.ts compares their bits).
 * The scalars arrive already rounded to float32 (a JS number passed as f32 is Math.fround'ed).
 *
 * `ahead` (a byte offset, 0 for none): --overlap's lookahead parameters, written in the same
 * pass as the update: (params after + params after) - params before, each a float32
 * operation (src/wire/lookahead.ts). One more store per entry instead of a copy of the
 * parameters before the update and a later pass over both.
 */

/** SGD with momentum (and Nesterov when `nesterov` is 1): params and velocity in place. */
export function replicaSgd(length: i32, params: usize, gradient: usize, velocity: usize, learningRate: f32, momentum: f32, nesterov: i32, ahead: usize): void {
  const lr = f32x4.splat(learningRate), mu = f32x4.splat(momentum);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const step = f32x4.mul(lr, v128.load(gradient + offset));
    const v = f32x4.sub(f32x4.mul(mu, v128.load(velocity + offset)), step);
    v128.store(velocity + offset, v);
    const move = nesterov != 0 ? f32x4.sub(f32x4.mul(mu, v), step) : v;
    storeUpdated(params, ahead, offset, f32x4.add(v128.load(params + offset), move));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const step = learningRate * load<f32>(gradient + offset);
    const v = momentum * load<f32>(velocity + offset) - step;
    store<f32>(velocity + offset, v);
    storeUpdatedScalar(params, ahead, offset, load<f32>(params + offset) + (nesterov != 0 ? momentum * v - step : v));
  }
}

/** Adadelta: params, accumulatedGrad and accumulatedDelta in place. */
export function replicaAdadelta(
  length: i32, params: usize, gradient: usize, accumulatedGrad: usize, accumulatedDelta: usize,
  learningRate: f32, rho: f32, oneMinusRho: f32, epsilon: f32, ahead: usize,
): void {
  const lr = f32x4.splat(learningRate), r = f32x4.splat(rho), c = f32x4.splat(oneMinusRho), eps = f32x4.splat(epsilon);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(gradient + offset);
    const accG = f32x4.add(f32x4.mul(r, v128.load(accumulatedGrad + offset)), f32x4.mul(f32x4.mul(c, g), g));
    v128.store(accumulatedGrad + offset, accG);
    const accD = v128.load(accumulatedDelta + offset);
    const delta = f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(accD, eps)), f32x4.sqrt(f32x4.add(accG, eps))), g);
    v128.store(accumulatedDelta + offset, f32x4.add(f32x4.mul(r, accD), f32x4.mul(f32x4.mul(c, delta), delta)));
    storeUpdated(params, ahead, offset, f32x4.sub(v128.load(params + offset), f32x4.mul(lr, delta)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(gradient + offset);
    const accG = rho * load<f32>(accumulatedGrad + offset) + (oneMinusRho * g) * g;
    store<f32>(accumulatedGrad + offset, accG);
    const accD = load<f32>(accumulatedDelta + offset);
    const delta = (Mathf.sqrt(accD + epsilon) / Mathf.sqrt(accG + epsilon)) * g;
    store<f32>(accumulatedDelta + offset, rho * accD + (oneMinusRho * delta) * delta);
    storeUpdatedScalar(params, ahead, offset, load<f32>(params + offset) - learningRate * delta);
  }
}

/** Adam with the coordinator's bias corrections. */
export function replicaAdam(
  length: i32, params: usize, gradient: usize, m: usize, v: usize,
  learningRate: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32, epsilon: f32,
  correction1: f32, correction2: f32, ahead: usize,
): void {
  const lr = f32x4.splat(learningRate), b1 = f32x4.splat(beta1), b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(oneMinusBeta1), c2 = f32x4.splat(oneMinusBeta2), eps = f32x4.splat(epsilon);
  const k1 = f32x4.splat(correction1), k2 = f32x4.splat(correction2);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(gradient + offset);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + offset)), f32x4.mul(c1, g));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + offset)), f32x4.mul(f32x4.mul(c2, g), g));
    v128.store(m + offset, mi);
    v128.store(v + offset, vi);
    const step = f32x4.div(f32x4.mul(lr, f32x4.div(mi, k1)), f32x4.add(f32x4.sqrt(f32x4.div(vi, k2)), eps));
    storeUpdated(params, ahead, offset, f32x4.sub(v128.load(params + offset), step));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(gradient + offset);
    const mi = beta1 * load<f32>(m + offset) + oneMinusBeta1 * g;
    const vi = beta2 * load<f32>(v + offset) + (oneMinusBeta2 * g) * g;
    store<f32>(m + offset, mi);
    store<f32>(v + offset, vi);
    const step = (learningRate * (mi / correction1)) / (Mathf.sqrt(vi / correction2) + epsilon);
    storeUpdatedScalar(params, ahead, offset, load<f32>(params + offset) - step);
  }
}

/** Stores four updated parameters and, when `ahead` is set, their lookahead (see the header). */
// @ts-ignore: decorator
@inline function storeUpdated(params: usize, ahead: usize, offset: usize, updated: v128): void {
  if (ahead != 0) v128.store(ahead + offset, f32x4.sub(f32x4.add(updated, updated), v128.load(params + offset)));
  v128.store(params + offset, updated);
}

// @ts-ignore: decorator
@inline function storeUpdatedScalar(params: usize, ahead: usize, offset: usize, updated: f32): void {
  if (ahead != 0) store<f32>(ahead + offset, (updated + updated) - load<f32>(params + offset));
  store<f32>(params + offset, updated);
}

/** In place: ahead = (params + params) - ahead, where `ahead` held the parameters of the version before. */
export function replicaExtrapolate(length: i32, params: usize, ahead: usize): void {
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const p = v128.load(params + offset);
    v128.store(ahead + offset, f32x4.sub(f32x4.add(p, p), v128.load(ahead + offset)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const p = load<f32>(params + offset);
    store<f32>(ahead + offset, (p + p) - load<f32>(ahead + offset));
  }
}
