/**
 * What the worker page and its Web Worker say to each other (postMessage, structured clone).
 * The page asks: join (with the token) or leave; the Web Worker reports its status, which
 * the page shows; and a received dataset, which the page's thread keeps in Cache Storage.
 */

export type PageRequest =
  | { readonly type: 'join'; readonly url: string; readonly token: string | undefined; readonly name: string }
  | { readonly type: 'leave'; readonly reason: string };

/** What the Web Worker posts: its status, or a dataset frame for the page to keep in Cache Storage. */
export type WorkerReport =
  | { readonly type: 'status'; readonly status: SessionStatus }
  | { readonly type: 'keep'; readonly id: string; readonly frame: Uint8Array<ArrayBuffer> };

/**
 * loading: fetching the kernels; unsupported: no WebAssembly SIMD here (terminal);
 * connecting; downloading: joined, receiving the dataset; ready: waiting for or computing
 * slices; refused: the coordinator (or this page) said no (terminal until the next join);
 * lost: the coordinator went away and retries are over; stopped: left, or told to stop.
 */
export type SessionState = 'loading' | 'unsupported' | 'connecting' | 'downloading' | 'ready' | 'refused' | 'lost' | 'stopped';

export interface SessionStatus {
  readonly state: SessionState;
  /** One line for people: why refused, what is happening. */
  readonly detail: string;
  readonly workerId: number | null;
  /** The wasm variant in use ('relaxed' or 'simd'), null before the kernels are loaded or where none runs. */
  readonly variant: string | null;
  readonly runtime: string;
  readonly slices: number;
  readonly images: number;
  /** Milliseconds spent in forward and backward over those images (the rate's denominator). */
  readonly computeMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Whether the dataset came from this browser's Cache Storage rather than over the socket. */
  readonly datasetFromCache: boolean;
}
