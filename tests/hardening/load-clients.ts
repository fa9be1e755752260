/**
 * Many light clients in one process, for the load test and bench/load.ts:
 *
 *   tsx tests/hardening/load-clients.ts workers N URL [TOKEN]
 *     N worker connections sharing one copy of MNIST; each computes its slices with its own
 *     ComputeEngine (the worker package's compute code), one after another on this core.
 *   tsx tests/hardening/load-clients.ts dashboards N URL [TOKEN]
 *     N dashboard connections (subscribe, then only listen); they decode every frame.
 *
 * Prints "ready N" once all are connected (workers: welcomed), and on SIGTERM or when the
 * coordinator stops a JSON line "summary {...}" (per kind counts), then exits.
 */
import { PROTOCOL_VERSION, datasetId, decodeFrame, encodeMessage, selectKernels, type Message, type StepMessage, type WelcomeMessage } from '../../packages/core/src/index.js';
import { datasetHash, loadMnist } from '../../packages/core/src/node.js';
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

function connect(first: Message, onMessage: (socket: WebSocket, message: Record<string, unknown>) => void): void {
  const socket = new WebSocket(url!, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  open++;
  socket.on('open', () => socket.send(encodeMessage(first), { binary: true }));
  socket.on('message', (data: Buffer) => onMessage(socket, decodeFrame(data) as Record<string, unknown>));
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
    const kernels = selectKernels('auto');
    let engine: ComputeEngine | null = null;
    const hello: Message = { type: 'hello', protocol: PROTOCOL_VERSION, ...(token ? { token } : {}), name: `load-${i + 1}`, datasetHash: hash, kernels: kernels.name };
    connect(hello, (socket, message) => {
      if (message['type'] === 'welcome') {
        const welcome = message as unknown as WelcomeMessage;
        engine = new ComputeEngine(welcome.spec, welcome.paramCount, data, kernels);
        markReady();
      } else if (message['type'] === 'step' && engine !== null) {
        add('steps answered');
        socket.send(encodeMessage(engine.step(message as unknown as StepMessage, 0)), { binary: true });
      } else if (message['type'] === 'evaluate' && engine !== null) {
        add('evaluations answered');
        socket.send(encodeMessage(engine.evaluate(message as never)), { binary: true });
      } else if (message['type'] === 'stop') socket.close();
      else add(`got ${String(message['type'])}`);
    });
  }
} else if (role === 'dashboards') {
  for (let i = 0; i < count; i++) {
    connect({ type: 'subscribe', protocol: PROTOCOL_VERSION, ...(token ? { token } : {}) }, (_socket, message) => {
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
