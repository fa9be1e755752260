/**
 * Many light clients in one process, for the load test and bench/load.ts:
 *
 *   tsx tests/hardening/load-clients.ts workers N URL [TOKEN]
 *     N worker connections sharing one copy of MNIST; each computes its slices with its own
 *     ComputeEngine (the worker package's compute code), one after another on this core, and
 *     speaks the run's wire codec through its own WorkerWire (a replica each in bf16 and topk
 *     runs, as a real worker holds).
 *   tsx tests/hardening/load-clients.ts dashboards N URL [TOKEN]
 *     N dashboard connections (subscribe, then only listen); they decode every frame.
 *
 * Prints "ready N" once all are connected (workers: welcomed), and on SIGTERM or when the
 * coordinator stops a JSON line "summary {...}" (per kind counts), then exits.
 */
import {
  DEFAULT_LIMITS,
  FROM_COORDINATOR_TO_WORKER,
  PROTOCOL_VERSION,
  WorkerWire,
  datasetId,
  decodeFrame,
  decodeMessage,
  encodeMessage,
  type Message,
  type ProtocolLimits,
  type StepMessage,
} from '../../packages/core/src/index.js';
import { datasetHash, loadMnist, selectNodeKernels } from '../../packages/core/src/node.js';
import { ComputeEngine, type WorkerData } from '../../packages/worker/src/index.js';
import { WebSocket } from '../distributed/helpers.js';

const [role, countText, url, token] = process.argv.slice(2);
const count = Number(countText);
const summary: Record<string, number> = {};
const add = (key: string, n = 1) => (summary[key] = (summary[key] ?? 0) + n);
let ready = 0;
let open = 0;

function finish(): void {
  process.stdout.write(`summary ${JSON.stringify(summary)}\n`);
  process.exit(0);
}
process.on('SIGTERM', finish);

function connect(first: Message, onFrame: (socket: WebSocket, bytes: Buffer) => void): void {
  const socket = new WebSocket(url!, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  open++;
  socket.on('open', () => socket.send(encodeMessage(first), { binary: true }));
  socket.on('message', (data: Buffer) => onFrame(socket, data));
  socket.on('error', () => add('socket errors'));
  socket.on('close', () => {
    add('closed');
    if (--open === 0) finish();
  });
}

function markReady(): void {
  if (++ready === count) process.stdout.write(`ready ${count}\n`);
}

if (role === 'workers') {
  const { train, test } = loadMnist();
  const data: WorkerData = { train, test };
  const hash = datasetId(datasetHash(train), datasetHash(test));
  for (let i = 0; i < count; i++) {
    // NOTE: one kernels instance each: a wasm instance's memory is a fixed arena (1 GB), too small for 32 default models.
    const kernels = selectNodeKernels('auto');
    const wire = new WorkerWire();
    let limits: ProtocolLimits = { ...DEFAULT_LIMITS, accept: FROM_COORDINATOR_TO_WORKER };
    let engine: ComputeEngine | null = null;
    const hello: Message = { type: 'hello', protocol: PROTOCOL_VERSION, ...(token ? { token } : {}), name: `load-${i + 1}`, datasetHash: hash, kernels: kernels.name };
    connect(hello, (socket, bytes) => {
      // Validated as a worker validates (a replica run's packed updates are decoded here).
      const message = decodeMessage(bytes, limits);
      switch (message.type) {
        case 'welcome':
          limits = { ...limits, paramCount: message.paramCount };
          wire.onWelcome(message);
          engine = new ComputeEngine(message.spec, message.paramCount, data, kernels);
          return markReady();
        case 'step': {
          if (engine === null) return add('step before welcome');
          add('steps answered');
          const answer = engine.step(wire.onJob(message), 0);
          return socket.send(encodeMessage(wire.encodeGradient(answer, message as StepMessage)), { binary: true });
        }
        case 'evaluate':
          if (engine === null) return add('evaluate before welcome');
          add('evaluations answered');
          return socket.send(encodeMessage(engine.evaluate(wire.onJob(message))), { binary: true });
        case 'update':
          return wire.onUpdate(message);
        case 'stop':
          return socket.close();
        default:
          return add(`got ${message.type}`);
      }
    });
  }
} else if (role === 'dashboards') {
  for (let i = 0; i < count; i++) {
    connect({ type: 'subscribe', protocol: PROTOCOL_VERSION, ...(token ? { token } : {}) }, (_socket, bytes) => {
      const message = decodeFrame(bytes) as Record<string, unknown>;
      if (message['type'] === 'snapshot') {
        add('snapshots');
        markReady();
      } else if (message['type'] === 'metrics') add(`${String((message['record'] as { kind: string }).kind)} records`);
      else add(`got ${String(message['type'])}`);
    });
  }
} else {
  process.stderr.write('usage: load-clients.ts workers|dashboards N URL [TOKEN]\n');
  process.exit(2);
}
