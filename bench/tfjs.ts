/**
 * TF.js on the identical model (Conv2D 32 3x3 relu -> Conv2D 64 3x3 relu -> MaxPool 2x2
 * -> Flatten -> Dense 128 relu -> Dense 10, softmax cross-entropy, Adadelta lr=1 rho=0.95
 * eps=1e-7), one thread, in NHWC (TF.js's conv layout). Training step = forward +
 * backward + Adadelta update, as for Convoy.
 *
 * NOTE: tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so it cannot train this
 * model as shipped. For the wasm run this script registers a Conv2D gradient whose filter
 * part is computed as an ordinary (forward) conv2d over transposed tensors, which the
 * wasm backend has (valid for stride 1 and dilation 1, which is what this model uses):
 *   dW[i,j,c,o] = sum_{n,y,x} x[n,y+i,x+j,c] dy[n,y,x,o]
 *              = conv2d(x^T [c,H,W,n], dy^T [outH,outW,n,o])[c,i,j,o].
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients into the shared tfjs-core (the core package alone registers none)
import '@tensorflow/tfjs-backend-cpu';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { imagesPerSecond, type Rate } from './measure.js';

export interface TfjsResult {
  readonly backend: string;
  readonly train: Record<number, Rate | null>;
  readonly inference: Rate | null;
  readonly note: string;
}

function glorot(shape: number[], fanIn: number, fanOut: number): tf.Variable {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.variable(tf.randomUniform(shape, -limit, limit, 'float32', 1));
}

function buildModel() {
  const params = {
    w1: glorot([3, 3, 1, 32], 9, 288), b1: tf.variable(tf.zeros([32])),
    w2: glorot([3, 3, 32, 64], 288, 576), b2: tf.variable(tf.zeros([64])),
    w3: glorot([9216, 128], 9216, 128), b3: tf.variable(tf.zeros([128])),
    w4: glorot([128, 10], 128, 10), b4: tf.variable(tf.zeros([10])),
  };
  const logits = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = tf.relu(tf.add(tf.conv2d(x, params.w1 as tf.Tensor4D, 1, 'valid'), params.b1)) as tf.Tensor4D;
    h = tf.relu(tf.add(tf.conv2d(h, params.w2 as tf.Tensor4D, 1, 'valid'), params.b2)) as tf.Tensor4D;
    h = tf.maxPool(h, 2, 2, 'valid');
    // NOTE: NHWC flattening order differs from Convoy's CHW; the arithmetic is the same.
    const flat = tf.reshape(h, [h.shape[0], 9216]) as tf.Tensor2D;
    const hidden = tf.relu(tf.add(tf.matMul(flat, params.w3 as tf.Tensor2D), params.b3)) as tf.Tensor2D;
    return tf.add(tf.matMul(hidden, params.w4 as tf.Tensor2D), params.b4) as tf.Tensor2D;
  };
  return { params, logits };
}

let gradientPatched = false;

/** Replaces Conv2D's gradient for the wasm backend only (see the file comment). */
function patchConv2dGradientForWasm(): void {
  if (gradientPatched) return;
  gradientPatched = true;
  const original = tf.getGradient('Conv2D');
  if (original === undefined) throw new Error('TF.js has no Conv2D gradient to patch');
  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const grads = original.gradFunc(dy, saved, attrs);
      if (tf.getBackend() !== 'wasm') return grads;
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dyT = dy as tf.Tensor4D;
      return {
        x: grads.x!,
        filter: () => {
          const xT = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [c, H, W, n]
          const dyAsFilter = tf.transpose(dyT, [1, 2, 0, 3]) as tf.Tensor4D; // [outH, outW, n, o]
          const result = tf.conv2d(xT, dyAsFilter, 1, 'valid'); // [c, kh, kw, o]
          return tf.transpose(result, [1, 2, 0, 3]).reshape(filter.shape);
        },
      };
    },
  });
}

export async function benchTfjs(backend: 'cpu' | 'wasm', batches: readonly number[], seconds: number, maxSteps: number): Promise<TfjsResult> {
  let note = backend === 'cpu' ? 'TF.js pure-JS CPU backend' : 'TF.js WebAssembly backend (SIMD, 1 thread)';
  if (backend === 'wasm') {
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    setThreadsCount(1);
    patchConv2dGradientForWasm();
    note += '; Conv2DBackpropFilter missing in 4.22: filter gradient added by hand in bench/tfjs.ts (conv2d over transposed tensors)';
  }
  await tf.setBackend(backend);
  await tf.ready();
  const { params, logits } = buildModel();
  const optimizer = tf.train.adadelta(1, 0.95, 1e-7);
  const train: Record<number, Rate | null> = {};
  for (const batch of batches) {
    const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
    train[batch] = imagesPerSecond(batch, seconds, maxSteps, () => {
      tf.tidy(() => {
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, logits(x)) as tf.Scalar, false, Object.values(params));
      });
    });
    x.dispose();
    y.dispose();
  }
  const inferenceBatch = 64;
  const x = tf.randomUniform([inferenceBatch, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const inference = imagesPerSecond(inferenceBatch, seconds, maxSteps * 4, () => {
    tf.tidy(() => tf.softmax(logits(x)).dataSync());
  });
  x.dispose();
  for (const p of Object.values(params)) p.dispose();
  return { backend, train, inference, note };
}
