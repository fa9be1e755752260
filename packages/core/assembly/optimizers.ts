/**
 * The optimizer updates of the WebAssembly backend, four parameters per step, with the
 * same formulas as the TypeScript reference (kernels/reference.ts). Adadelta and Adam take
 * their scalars as f64 and compute every derived constant (1 - rho, bias corrections) in
 * f64 before rounding it to f32 once.
 */

/** Keras SGD: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v. */
export function sgdUpdate(length: i32, params: usize, grads: usize, velocity: usize, learningRate: f32, momentum: f32, nesterov: bool): void {
  const lr = f32x4.splat(learningRate), mu = f32x4.splat(momentum);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(grads + offset);
    const step = f32x4.mul(lr, g);
    const v = f32x4.sub(f32x4.mul(mu, v128.load(velocity + offset)), step);
    v128.store(velocity + offset, v);
    const update = nesterov ? f32x4.sub(f32x4.mul(mu, v), step) : v;
    v128.store(params + offset, f32x4.add(v128.load(params + offset), update));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(grads + offset);
    const v = momentum * load<f32>(velocity + offset) - learningRate * g;
    store<f32>(velocity + offset, v);
    store<f32>(params + offset, load<f32>(params + offset) + (nesterov ? momentum * v - learningRate * g : v));
  }
}

/** Adadelta (Zeiler 2012, Algorithm 1) with Keras's learning_rate factor. */
export function adadeltaUpdate(
  length: i32, params: usize, grads: usize, accumulatedGrad: usize, accumulatedDelta: usize,
  learningRateF64: f64, rhoF64: f64, epsilonF64: f64,
): void {
  // NOTE: complements like 1 - rho are taken in float64: float32(0.999) is off by 1.3e-8,
  // which is a 1.3e-5 relative error in 1 - 0.999.
  const learningRate = <f32>learningRateF64, rho = <f32>rhoF64, epsilon = <f32>epsilonF64, complement = <f32>(1 - rhoF64);
  const lr = f32x4.splat(learningRate), r = f32x4.splat(rho), keep = f32x4.splat(complement), eps = f32x4.splat(epsilon);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(grads + offset);
    const accG = f32x4.add(f32x4.mul(r, v128.load(accumulatedGrad + offset)), f32x4.mul(keep, f32x4.mul(g, g)));
    v128.store(accumulatedGrad + offset, accG);
    const accD = v128.load(accumulatedDelta + offset);
    const delta = f32x4.mul(f32x4.div(f32x4.sqrt(f32x4.add(accD, eps)), f32x4.sqrt(f32x4.add(accG, eps))), g);
    v128.store(accumulatedDelta + offset, f32x4.add(f32x4.mul(r, accD), f32x4.mul(keep, f32x4.mul(delta, delta))));
    v128.store(params + offset, f32x4.sub(v128.load(params + offset), f32x4.mul(lr, delta)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(grads + offset);
    const accG = rho * load<f32>(accumulatedGrad + offset) + complement * g * g;
    store<f32>(accumulatedGrad + offset, accG);
    const accD = load<f32>(accumulatedDelta + offset);
    const delta = (Mathf.sqrt(accD + epsilon) / Mathf.sqrt(accG + epsilon)) * g;
    store<f32>(accumulatedDelta + offset, rho * accD + complement * delta * delta);
    store<f32>(params + offset, load<f32>(params + offset) - learningRate * delta);
  }
}

/** Adam (Kingma & Ba 2015, Algorithm 1); the bias corrections are computed once in float64. */
export function adamUpdate(
  length: i32, params: usize, grads: usize, m: usize, v: usize,
  learningRate: f64, beta1F64: f64, beta2F64: f64, epsilonF64: f64, step: f64,
): void {
  // Scalars in float64 (see adadeltaUpdate), the per-element work in float32.
  const stepSize = <f32>(learningRate / (1 - Math.pow(beta1F64, step)));
  const inverseCorrection2 = <f32>(1 / (1 - Math.pow(beta2F64, step)));
  const beta1 = <f32>beta1F64, beta2 = <f32>beta2F64, complement1 = <f32>(1 - beta1F64), complement2 = <f32>(1 - beta2F64), epsilon = <f32>epsilonF64;
  const b1 = f32x4.splat(beta1), b1c = f32x4.splat(complement1), b2 = f32x4.splat(beta2), b2c = f32x4.splat(complement2);
  const size = f32x4.splat(stepSize), invC2 = f32x4.splat(inverseCorrection2), eps = f32x4.splat(epsilon);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const offset = <usize>i << 2;
    const g = v128.load(grads + offset);
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + offset)), f32x4.mul(b1c, g));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + offset)), f32x4.mul(b2c, f32x4.mul(g, g)));
    v128.store(m + offset, mi);
    v128.store(v + offset, vi);
    const denominator = f32x4.add(f32x4.sqrt(f32x4.mul(vi, invC2)), eps);
    v128.store(params + offset, f32x4.sub(v128.load(params + offset), f32x4.div(f32x4.mul(size, mi), denominator)));
  }
  for (; i < length; i++) {
    const offset = <usize>i << 2;
    const g = load<f32>(grads + offset);
    const mi = beta1 * load<f32>(m + offset) + complement1 * g;
    const vi = beta2 * load<f32>(v + offset) + complement2 * g * g;
    store<f32>(m + offset, mi);
    store<f32>(v + offset, vi);
    store<f32>(params + offset, load<f32>(params + offset) - (stepSize * mi) / (Mathf.sqrt(vi * inverseCorrection2) + epsilon));
  }
}
