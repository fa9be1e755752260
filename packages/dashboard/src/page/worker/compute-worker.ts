/**
 * The worker page's Web Worker (bundled as compute-worker.js): the kernels, the socket and
 * the computation live here, off the page's thread, so the page stays responsive while a
 * slice is computed. It picks the kernel variant by feature detection (relaxed SIMD, else
 * SIMD; neither: it says so and does nothing), then runs one Session per join.
 */
import { WasmKernelsError, fetchWasmModules, type WasmVariant } from '@convoy/core';
import { browserRuntime } from '../../browser-runtime.js';
import { openDatasetStore } from './dataset-store.js';
import { Session } from './session.js';
import type { PageRequest, SessionStatus, WorkerReport } from './status.js';

// NOTE: the dashboard's tsconfig has the DOM library, not WebWorker's: this scope is typed by hand.
const scope = globalThis as unknown as {
  postMessage(report: WorkerReport, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<PageRequest>) => void) | null;
  location: { href: string };
  navigator: { userAgent: string };
};

const runtime = browserRuntime(scope.navigator.userAgent);
const report = (status: SessionStatus) => scope.postMessage({ type: 'status', status });
const idle = (state: SessionStatus['state'], detail: string, variant: string | null) =>
  report({ state, detail, workerId: null, variant, runtime, slices: 0, images: 0, computeMs: 0, bytesIn: 0, bytesOut: 0, datasetFromCache: false });
/** The page keeps the dataset: a copy goes (transferred), the engine computes on the received one. */
const keep = (id: string, frame: Uint8Array) => {
  const copy = frame.slice();
  scope.postMessage({ type: 'keep', id, frame: copy }, [copy.buffer]);
};

const NO_SIMD = 'this browser runs no WebAssembly SIMD, which the kernels need: it cannot join (Chrome 91+, Firefox 89+, Safari 16.4+ can)';

/** The kernels, fetched once from the coordinator's root (the page's origin): the best variant, or why there is none. */
const kernels: Promise<{ variant: WasmVariant | null; problem: string }> = fetchWasmModules(new URL('/', scope.location.href)).then(
  (variant) => ({ variant, problem: NO_SIMD }),
  (error: unknown) => ({ variant: null, problem: `cannot load the kernels: ${error instanceof WasmKernelsError ? error.message : String(error)}` }),
);

let session: Session | null = null;

scope.onmessage = (event) => {
  const request = event.data;
  switch (request.type) {
    case 'join':
      void join(request.url, request.token, request.name);
      return;
    case 'leave':
      session?.leave(request.reason);
      return;
    default: {
      const unknown: never = request;
      throw new Error(`unknown page request ${JSON.stringify(unknown)}`);
    }
  }
};

async function join(url: string, token: string | undefined, name: string): Promise<void> {
  idle('loading', 'loading the WebAssembly kernels', null);
  const { variant, problem } = await kernels;
  if (variant === null) {
    idle('unsupported', problem, null);
    return;
  }
  const previous = session;
  previous?.leave('joined again');
  const store = await openDatasetStore();
  const current = new Session({ url, token, name, runtime, variant, store, held: previous?.heldDataset() ?? null, keep, report });
  session = current;
  await current.start();
}
