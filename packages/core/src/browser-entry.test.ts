/**
 * @convoy/core must load in a browser page: its entry is bundled here as a browser bundle
 * would be (esbuild, platform 'browser') and must reach no Node built-in. The bundle is then
 * run without Node's globals, so the wasm kernels are instantiated the way a page does: from bytes it supplies,
 * or fetched over HTTP, never from the package's build/ folder.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { build, type Message } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as BrowserCore from './index.js';
import { wasmPath } from './kernels/wasm/build-files.node.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const builtins = new Set(builtinModules);

/**
 * Bundles `entry` for the browser. Returns the bundle, or every Node built-in it reached with
 * the file that imports it. NOTE: esbuild's own resolution decides, so a package's `browser`
 * field (protobufjs maps "fs" to nothing) is honoured as in any browser bundle.
 */
async function bundleForBrowser(entry: string): Promise<{ code: string; nodeImports: string[] }> {
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'iife',
      globalName: 'convoyCore',
      platform: 'browser',
      logLevel: 'silent',
    });
    return { code: result.outputFiles[0]!.text, nodeImports: [] };
  } catch (error) {
    const failures = (error as { errors?: Message[] }).errors ?? [];
    const nodeImports = failures.flatMap((failure) => {
      const name = /^Could not resolve "([^"]+)"/.exec(failure.text)?.[1];
      return name !== undefined && (name.startsWith('node:') || builtins.has(name.split('/')[0]!)) ? [`${name} (from ${failure.location?.file ?? '?'})`] : [];
    });
    if (nodeImports.length === 0 || nodeImports.length !== failures.length) throw error;
    return { code: '', nodeImports };
  }
}

/**
 * Runs the bundle in a fresh V8 context holding only what a browser's Web Worker offers
 * that the code may use (no Buffer, process or require): a Node global reached on any path
 * the tests take fails with a ReferenceError.
 */
function runInBrowserLikeContext(code: string): typeof BrowserCore {
  const { WebAssembly } = globalThis as unknown as { WebAssembly: unknown }; // NOTE: not in the ES2022 lib (see kernels/wasm/api.ts)
  const context = createContext({ WebAssembly, TextEncoder, TextDecoder, URL, fetch, performance, console, setTimeout, clearTimeout, queueMicrotask });
  runInContext(code, context);
  expect(runInContext('typeof Buffer + typeof process + typeof require', context)).toBe('undefinedundefinedundefined');
  return (context as { convoyCore: typeof BrowserCore }).convoyCore;
}

describe('the browser entry (@convoy/core)', () => {
  let core: typeof BrowserCore;

  beforeAll(async () => {
    const { code, nodeImports } = await bundleForBrowser(join(here, 'index.ts'));
    expect(nodeImports).toEqual([]);
    core = runInBrowserLikeContext(code);
  });

  it('the check sees a Node built-in when one is reached (the Node entry reaches several)', async () => {
    const { nodeImports } = await bundleForBrowser(join(here, 'node.ts'));
    expect(nodeImports.some((name) => name.startsWith('node:fs'))).toBe(true);
    expect(nodeImports.some((name) => name.startsWith('node:crypto'))).toBe(true);
  });

  it('has no wasm kernels until a page supplies them: no build/ folder to read', () => {
    expect(core.wasmKernelsBuilt()).toBe(false);
    expect(() => core.createWasmKernels()).toThrow(expect.objectContaining({ code: 'WASM_NOT_BUILT' }));
    expect(core.selectKernels('auto').name).toBe('ts');
  });

  it('instantiates the SIMD kernels from bytes and takes a model step equal to the reference', () => {
    expect(core.provideWasmModule('simd', new Uint8Array(readFileSync(wasmPath('simd'))))).toBe(true);
    expect(core.wasmKernelsBuilt()).toBe(true);
    const spec: BrowserCore.ModelSpec = {
      input: [1, 6, 6],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 3, activation: 'relu' },
        { type: 'maxpool2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    };
    const wasm = core.createModel(spec, { seed: 7, kernels: core.createWasmKernels({ variant: 'simd' }) });
    const reference = core.createModel(spec, { seed: 7, kernels: core.createReferenceKernels() });
    expect(wasm.kernels.name).toBe('wasm');
    const images = Float32Array.from({ length: 4 * 36 }, (_, i) => ((i * 37) % 101) / 100);
    const labels = Uint8Array.from([0, 1, 2, 1]);
    const fromWasm = wasm.lossAndGradient(images, labels);
    const fromReference = reference.lossAndGradient(images, labels);
    expect(fromWasm.loss).toBeCloseTo(fromReference.loss, 5);
    expect(fromWasm.correct).toBe(fromReference.correct);
    expect(fromWasm.gradient.length).toBe(wasm.paramCount);
    let largest = 0;
    fromReference.gradient.forEach((value, i) => {
      largest = Math.max(largest, Math.abs(value));
      expect(fromWasm.gradient[i]).toBeCloseTo(value, 5);
    });
    expect(largest).toBeGreaterThan(0);
    // One plain SGD step with the gradient lowers this batch's loss.
    const optimizer = core.createOptimizer({ name: 'sgd', learningRate: 0.5 }, wasm.kernels, wasm.paramCount);
    optimizer.apply(wasm.params, fromWasm.gradient);
    expect(wasm.lossAndGradient(images, labels).loss).toBeLessThan(fromWasm.loss);
  });
});

describe('fetchWasmModules (a page fetching build/ over HTTP)', () => {
  let server: Server;
  let core: typeof BrowserCore;
  const requested: string[] = [];

  beforeAll(async () => {
    core = runInBrowserLikeContext((await bundleForBrowser(join(here, 'index.ts'))).code);
    server = createServer((request, response) => {
      requested.push(request.url ?? '');
      const variant = core.WASM_VARIANTS.find((name) => request.url === `/kernels/${core.wasmFileName(name)}`);
      if (variant === undefined) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/wasm' }).end(readFileSync(wasmPath(variant)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('keeps the best variant this engine validates, and kernels of that variant work', async () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const variant = await core.fetchWasmModules(`http://127.0.0.1:${address.port}/kernels/`);
    const relaxedRuns = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly.validate(
      new Uint8Array(readFileSync(wasmPath('relaxed'))),
    );
    expect(variant).toBe(relaxedRuns ? 'relaxed' : 'simd');
    expect(requested).toEqual(relaxedRuns ? ['/kernels/kernels-relaxed.wasm'] : ['/kernels/kernels-relaxed.wasm', '/kernels/kernels-simd.wasm']);
    const kernels = core.createWasmKernels();
    expect(kernels.variant).toBe(variant);
    const x = kernels.allocate(8);
    x.set([1, -2, 3, -4, 5, -6, 7, -8]);
    const y = kernels.allocate(8);
    kernels.reluForward(8, x, y);
    expect(Array.from(y)).toEqual([1, 0, 3, 0, 5, 0, 7, 0]);
  });

  it('rejects with WASM_NOT_BUILT when the files are not served', async () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    await expect(core.fetchWasmModules(`http://127.0.0.1:${address.port}/elsewhere/`)).rejects.toMatchObject({ code: 'WASM_NOT_BUILT' });
  });

  it('rejects with WASM_NOT_BUILT when nothing answers at the address', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    if (address === null || typeof address === 'string') throw new Error('no port');
    await expect(core.fetchWasmModules(`http://127.0.0.1:${address.port}/kernels/`)).rejects.toMatchObject({ code: 'WASM_NOT_BUILT' });
  });
});
