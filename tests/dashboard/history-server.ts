/**
 * TEST FIXTURE, not a coordinator: one process that "trains" (a fixed amount of arithmetic
 * per step, then a step record appended to its history, as a run's thread does) and serves
 * the real dashboard handler on 127.0.0.1 port 0 with a run of `--steps` steps so far.
 * GET /steps answers the number of steps done; it prints "listening PORT" when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StepRecord } from '../../packages/core/src/index.js';
import { createDashboardRequestHandler } from '../../packages/dashboard/src/index.js';
import type { History } from '../../packages/dashboard/src/history-export.js';
import { fixtureHistory, stepRecord } from '../../packages/dashboard/src/testing/history-fixture.js';

const steps = Number(process.argv[process.argv.indexOf('--steps') + 1] ?? 25_600);
const history: History = fixtureHistory(steps, 1_000);
/** Appended in place, as the coordinator's metrics hub does. */
const stepList = history.steps as StepRecord[];
let done = 0;
/** Where the arithmetic goes, so it is not optimised away. */
export let sink = 0;

/** About a millisecond of arithmetic, then the step's record: the history changes every step. */
function trainOneStep(): void {
  for (let i = 0; i < 200_000; i++) sink += Math.sqrt(i);
  done++;
  stepList.push(stepRecord(steps + done, 1_000));
  setImmediate(trainOneStep);
}

const handler = createDashboardRequestHandler({ history: () => history });
const server = createServer((request, response) => {
  if (handler(request, response)) return;
  response.writeHead(request.url === '/steps' ? 200 : 404, { 'content-type': 'text/plain' });
  response.end(request.url === '/steps' ? String(done) : 'not found\n');
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
  setImmediate(trainOneStep);
});
