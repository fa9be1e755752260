/**
 * onnxruntime-node's CPU inference of Convoy's default model (the `convoy export` graph of
 * freshly initialised parameters), one intra-op thread, for `pnpm bench`: the yardstick of
 * what one core's vector units do on this forward pass (its MLAS kernels are hand-written
 * assembly per CPU).
 */
import * as ort from 'onnxruntime-node';
import { createModel, exportOnnx, MNIST_CNN, selectKernels } from '../packages/core/src/index.js';
import type { Rate } from './measure.js';

export async function benchOnnxRuntime(batch: number, seconds: number): Promise<{ inference: Rate; note: string }> {
  const model = createModel(MNIST_CNN, { seed: 1, kernels: selectKernels('ts') });
  const session = await ort.InferenceSession.create(exportOnnx(MNIST_CNN, model.params), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // NOTE: no spin-waiting threads: they would burn CPU time that the figure (per CPU-second) counts.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const images = new Float32Array(batch * 784);
  for (let i = 0; i < images.length; i++) images[i] = ((i * 2654435761) % 1000) / 1000;
  const input = { [session.inputNames[0]!]: new ort.Tensor('float32', images, [batch, 1, 28, 28]) };
  await session.run(input); // warm-up
  let steps = 0;
  const startWall = performance.now();
  const startCpu = process.cpuUsage();
  while (steps === 0 || performance.now() - startWall < seconds * 1000) {
    await session.run(input);
    steps++;
  }
  const cpu = process.cpuUsage(startCpu);
  const inference = { wall: (steps * batch) / ((performance.now() - startWall) / 1000), cpu: (steps * batch) / ((cpu.user + cpu.system) / 1e6) };
  return { inference, note: `onnxruntime-node ${ort.env.versions.common}, CPU execution provider, 1 intra-op thread, the graph of \`convoy export\`` };
}
