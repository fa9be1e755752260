/**
 * Per-layer time of one training step: wraps a Kernels backend so that every call is
 * timed and attributed to a layer by its kernel and shapes (conv by its geometry, dense
 * by its sizes), in the order the model calls them.
 */
import type { Kernels, Model } from '../packages/core/src/index.js';

function cpuMilliseconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

export interface KernelTiming {
  readonly label: string;
  milliseconds: number;
  calls: number;
  /** Multiply-adds x 2 of the matrix products behind the calls (conv and dense); 0 for the rest. */
  flops: number;
}

/** FLOPs (2 per multiply-add) of one conv/dense kernel call: every one is a matrix product (or two). */
function flopsOf(method: string, args: unknown[]): number {
  const g = args[0] as { batch: number; inChannels: number; outChannels: number; outHeight: number; outWidth: number; kernelHeight: number; kernelWidth: number };
  if (method.startsWith('conv2d') && method !== 'conv2dScratchLength') return 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannels * g.kernelHeight * g.kernelWidth;
  if (method === 'denseForward') return 2 * (args[0] as number) * (args[1] as number) * (args[2] as number);
  // dWeight, plus dInput unless it is skipped (null, the 9th argument)
  if (method === 'denseBackward') return 2 * (args[0] as number) * (args[1] as number) * (args[2] as number) * (args[8] === null ? 1 : 2);
  return 0;
}

export function timedKernels(inner: Kernels): { kernels: Kernels; timings: Map<string, KernelTiming>; reset(): void } {
  const timings = new Map<string, KernelTiming>();
  const labelOf = (method: string, args: unknown[]): string => {
    const first = args[0] as { inChannels?: number; outChannels?: number; channels?: number } | number;
    if (typeof first === 'object' && first !== null && 'outChannels' in first) return `conv2d ${first.inChannels}->${first.outChannels} ${method.replace('conv2d', '')}`;
    if (typeof first === 'object' && first !== null && 'channels' in first) return `maxpool2d ${method.replace('maxPool2d', '')}`;
    if (method.startsWith('dense')) return `dense ${String(args[1])}->${String(args[2])} ${method.replace('dense', '')}`;
    return method;
  };
  const kernels = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'allocate' || property === 'conv2dScratchLength') {
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      }
      return (...args: unknown[]) => {
        const start = cpuMilliseconds();
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        const label = labelOf(String(property), args);
        const timing = timings.get(label) ?? { label, milliseconds: 0, calls: 0, flops: 0 };
        timing.milliseconds += cpuMilliseconds() - start;
        timing.calls++;
        timing.flops += flopsOf(String(property), args);
        timings.set(label, timing);
        return result;
      };
    },
  });
  return { kernels, timings, reset: () => timings.clear() };
}

/** Time per kernel label for `steps` training steps of `model` (built on timed kernels). */
export function profileStep(model: Model, timings: Map<string, KernelTiming>, reset: () => void, step: () => void, steps: number): { rows: KernelTiming[]; totalMilliseconds: number } {
  step(); // warm-up
  reset();
  const start = cpuMilliseconds();
  for (let i = 0; i < steps; i++) step();
  const totalMilliseconds = (cpuMilliseconds() - start) / steps;
  const rows = [...timings.values()].map((t) => ({ ...t, milliseconds: t.milliseconds / steps, calls: t.calls / steps, flops: t.flops / steps }));
  void model;
  return { rows, totalMilliseconds };
}
