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
import type { PageRequest, SessionStatus } from './status.js';

// NOTE: the dashboard's tsconfig has the DOM library, not WebWorker's: this scope is typed by hand.
const scope = globalThis as unknown as {
  postMessage(status: SessionStatus): void;
  onmessage: ((event: MessageEvent<PageRequest>) => void) | null;
  location: { href: string };
  navigator: { userAgent: string };
};

const runtime = browserRuntime(scope.navigator.userAgent);
const idle = (state: SessionStatus['state'], detail: string, variant: string | null): SessionStatus => ({
  state, detail, workerId: null, variant, runtime, slices: 0, images: 0, computeMs: 0, bytesIn: 0, bytesOut: 0, datasetFromCache: false,
});

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
  scope.postMessage(idle('loading', 'loading the WebAssembly kernels', null));
  const { variant, problem } = await kernels;
  if (variant === null) {
    scope.postMessage(idle('unsupported', problem, null));
    return;
  }
  session?.leave('joined again');
  const current = new Session({ url, token, name, runtime, variant, store: await openDatasetStore(), report: (status) => scope.postMessage(status) });
  session = current;
  await current.start();
}
