/**
 * An authenticated worker that lies, in the test's process, over a real WebSocket: it says
 * hello with the right dataset, computes its slices with the worker package's ComputeEngine
 * and then misbehaves as told (reports computeMs 0, answers late, never answers, or sends
 * finite but absurd gradients). Used by liars.test.ts.
 */
import { PROTOCOL_VERSION, datasetId, decodeFrame, encodeMessage, selectKernels, type EvaluateMessage, type GradientMessage, type StepMessage, type WelcomeMessage } from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
import { ComputeEngine } from '../../packages/worker/src/index.js';
import { WebSocket } from '../distributed/helpers.js';

export interface Lies {
  /** The computeMs it reports (the truth when undefined). */
  readonly computeMs?: number;
  /** Milliseconds to wait before sending its n-th step answer (n from 0). */
  readonly delayMs?: (answer: number) => number;
  /** Never answers a step or an evaluation (but stays connected: ws answers pings by itself). */
  readonly silent?: boolean;
  /** Every gradient value replaced by this (finite) number. */
  readonly gradientValue?: number;
}

export interface Liar {
  /** The size of each step slice it was given, in order. */
  readonly slices: number[];
  /** Its worker id, once welcomed. */
  workerId(): number;
  close(): void;
}

const data = (() => {
  let loaded: { train: ReturnType<typeof loadMnist>['train']; test: ReturnType<typeof loadMnist>['test']; hash: string } | null = null;
  return () => {
    if (loaded === null) {
      const { train, test } = loadMnist();
      loaded = { train, test, hash: datasetId(datasetHash(train), datasetHash(test)) };
    }
    return loaded;
  };
})();

/** Connects, says hello and resolves once welcomed. */
export function startLiar(url: string, lies: Lies): Promise<Liar> {
  const { train, test, hash } = data();
  const kernels = selectKernels('ts');
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  const slices: number[] = [];
  let engine: ComputeEngine | null = null;
  let id = 0;
  let answers = 0;
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    socket.once('close', () => reject(new Error('the liar was closed before its welcome')));
    socket.on('open', () => socket.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'liar', datasetHash: hash, kernels: kernels.name })));
    socket.on('message', (frame: Buffer) => {
      const message = decodeFrame(frame) as { type: string };
      if (message.type === 'welcome') {
        const welcome = message as WelcomeMessage;
        engine = new ComputeEngine(welcome.spec, welcome.paramCount, { train, test }, kernels);
        id = welcome.workerId;
        resolve({ slices, workerId: () => id, close: () => socket.terminate() });
      } else if (message.type === 'step' && engine !== null) {
        const step = message as StepMessage;
        slices.push(step.indices.length);
        // NOTE: computed even when silent, so the engine keeps the parameters it was sent.
        const honest = engine.step(step, 0);
        if (lies.silent === true) return;
        const gradient = lies.gradientValue === undefined ? honest.gradient : new Float32Array(honest.gradient.length).fill(lies.gradientValue);
        const answer: GradientMessage = { ...honest, gradient, computeMs: lies.computeMs ?? honest.computeMs };
        const delay = lies.delayMs?.(answers++) ?? 0;
        setTimeout(() => socket.readyState === WebSocket.OPEN && socket.send(encodeMessage(answer)), delay);
      } else if (message.type === 'evaluate' && engine !== null && lies.silent !== true) {
        socket.send(encodeMessage(engine.evaluate(message as EvaluateMessage)));
      }
    });
  });
}
