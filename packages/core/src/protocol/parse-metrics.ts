/**
 * Checks for the dashboard's records (metrics and snapshot messages) and the model spec
 * carried by welcome/run records. Structural only: createModel validates a spec fully.
 */
import { LAYER_TYPES } from '../layers/registry.js';
import type { ModelSpec } from '../spec.js';
import { Fields, MAX_COUNTER, MAX_RUNTIME, ProtocolError } from './fields.js';
import { MAX_DETAIL } from './text.js';
import { MAX_WORKER_THREADS, type MetricsRecord, type MisclassifiedSample, type RunEventName, type StepLink, type WorkerPhases, type WorkerRow, type WorkerState, type WorkerStepTiming } from './messages.js';

// Keys checked against the union by `satisfies`: a new record kind cannot be forgotten here.
const RECORD_KINDS = { run: true, step: true, epoch: true, test: true, workers: true, event: true, end: true, timing: true } as const satisfies Record<MetricsRecord['kind'], true>;
const WORKER_STATES: readonly WorkerState[] = ['joining', 'computing', 'idle', 'gone'];
const EVENTS: readonly RunEventName[] = ['join', 'leave', 'death', 'deadline-miss', 'refused-answer', 'demotion', 'coordinator-restart', 'stall', 'replica-drift'];

/** A plain JSON value of bounded size (layer specs, optimizer configs). */
function checkPlain(value: unknown, where: string, depth = 0): void {
  if (depth > 4) throw new ProtocolError('BAD_FIELD', `${where} is nested too deeply`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ProtocolError('NOT_FINITE', `${where} is not finite`);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length > 64) throw new ProtocolError('BAD_LENGTH', `${where} is too long`);
    value.forEach((item, i) => checkPlain(item, `${where}[${i}]`, depth + 1));
    return;
  }
  if (typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const entries = Object.entries(value as object);
    if (entries.length > 32) throw new ProtocolError('BAD_LENGTH', `${where} has too many keys`);
    for (const [key, item] of entries) checkPlain(item, `${where}.${key}`, depth + 1);
    return;
  }
  throw new ProtocolError('BAD_FIELD', `${where} is not plain JSON`);
}

export function checkSpec(value: unknown, where: string): ModelSpec {
  const fields = Fields.of(value, where);
  const input = fields.array('input', 3);
  if (input.length !== 3 || !input.every((size) => Number.isInteger(size) && (size as number) >= 1 && (size as number) <= 4096)) {
    throw new ProtocolError('BAD_FIELD', `${where}.input must be 3 positive integers`);
  }
  const layers = fields.array('layers', 64);
  layers.forEach((layer, i) => {
    const layerFields = Fields.of(layer, `${where}.layers[${i}]`);
    layerFields.oneOf('type', LAYER_TYPES);
    checkPlain(layer, `${where}.layers[${i}]`);
  });
  return value as ModelSpec;
}

export function checkWorkerRow(value: unknown, where: string): WorkerRow {
  const fields = Fields.of(value, where);
  const threads = fields.optional('threads', () => fields.integer('threads', 1, MAX_WORKER_THREADS));
  const runtime = fields.optional('runtime', () => fields.string('runtime', MAX_RUNTIME));
  return {
    id: fields.integer('id', 0, MAX_COUNTER),
    name: fields.string('name', 256),
    address: fields.string('address', 256),
    state: fields.oneOf('state', WORKER_STATES),
    kernels: fields.string('kernels', 64),
    ...(threads === undefined ? {} : { threads }),
    ...(runtime === undefined ? {} : { runtime }),
    imagesPerSecond: fields.finite('imagesPerSecond', 0, 1e12),
    lastStepMs: fields.finite('lastStepMs', 0, 1e12),
    sliceSize: fields.integer('sliceSize', 0, MAX_COUNTER),
    bytesIn: fields.integer('bytesIn', 0, Number.MAX_SAFE_INTEGER),
    bytesOut: fields.integer('bytesOut', 0, Number.MAX_SAFE_INTEGER),
    heartbeatAgeMs: fields.finite('heartbeatAgeMs', 0, 1e12),
    ...linkFigures(fields),
  };
}

/** The optional link figures of a worker row (absent from older records). */
function linkFigures(fields: Fields): Pick<WorkerRow, 'rttMs' | 'downMbps' | 'upMbps'> {
  return {
    ...(fields.has('rttMs') ? { rttMs: fields.finite('rttMs', 0, 1e9) } : {}),
    ...(fields.has('downMbps') ? { downMbps: fields.finite('downMbps', 0, 1e9) } : {}),
    ...(fields.has('upMbps') ? { upMbps: fields.finite('upMbps', 0, 1e9) } : {}),
  };
}

function checkStepLink(value: unknown, where: string): StepLink {
  const fields = Fields.of(value, where);
  return {
    workerId: fields.integer('workerId', 0, MAX_COUNTER),
    bytesDown: fields.integer('bytesDown', 0, Number.MAX_SAFE_INTEGER),
    bytesUp: fields.integer('bytesUp', 0, Number.MAX_SAFE_INTEGER),
    rttMs: fields.finite('rttMs', 0, 1e9),
    downMbps: fields.finite('downMbps', 0, 1e9),
    upMbps: fields.finite('upMbps', 0, 1e9),
  };
}

/** The longest duration a timing field may hold, ms (a day: beyond it a clock is wrong, not a step slow). */
const MAX_PHASE_MS = 86_400_000;

/** A gradient's `phases` (messages.ts WorkerPhases). */
export function checkPhases(value: unknown, where: string): WorkerPhases {
  const fields = Fields.of(value, where);
  return {
    previousEncodeMs: fields.finite('previousEncodeMs', 0, MAX_PHASE_MS),
    previousSendMs: fields.finite('previousSendMs', 0, MAX_PHASE_MS),
    waitMs: fields.finite('waitMs', 0, MAX_PHASE_MS),
    // Percent of one core: a process with many threads passes 100; 100 per core of the largest machines.
    cpuPercent: fields.finite('cpuPercent', 0, 100 * 1024),
    rssBytes: fields.integer('rssBytes', 0, Number.MAX_SAFE_INTEGER),
  };
}

function checkWorkerStepTiming(value: unknown, where: string): WorkerStepTiming {
  const fields = Fields.of(value, where);
  return {
    workerId: fields.integer('workerId', 0, MAX_COUNTER),
    images: fields.integer('images', 0, MAX_COUNTER),
    sentMs: fields.finite('sentMs', 0, MAX_PHASE_MS),
    arrivedMs: fields.finite('arrivedMs', 0, MAX_PHASE_MS),
    decodeMs: fields.finite('decodeMs', 0, MAX_PHASE_MS),
    computeMs: fields.finite('computeMs', 0, MAX_PHASE_MS),
    phases: fields.nullable('phases', () => checkPhases(fields.get('phases'), `${where}.phases`)),
  };
}

function checkMisclassified(value: unknown, where: string): MisclassifiedSample {
  const fields = Fields.of(value, where);
  return {
    index: fields.integer('index', 0, MAX_COUNTER),
    label: fields.integer('label', 0, 255),
    predicted: fields.integer('predicted', 0, 255),
    pixels: fields.bytes('pixels', 1, 4096 * 4096),
  };
}

export function checkMetricsRecord(value: unknown, where: string): MetricsRecord {
  const fields = Fields.of(value, where);
  const kind = fields.oneOf('kind', Object.keys(RECORD_KINDS) as MetricsRecord['kind'][]);
  const time = fields.finite('time' in (value as object) ? 'time' : 'startTime', 0, 1e15);
  switch (kind) {
    case 'run': {
      const optimizer = fields.get('optimizer');
      checkPlain(optimizer, `${where}.optimizer`);
      if (typeof optimizer !== 'object' || optimizer === null || Array.isArray(optimizer)) {
        throw new ProtocolError('BAD_FIELD', `${where}.optimizer is not an object`);
      }
      return {
        kind,
        runId: fields.string('runId', 256),
        startTime: time,
        spec: checkSpec(fields.get('spec'), `${where}.spec`),
        paramCount: fields.integer('paramCount', 1, 2 ** 31 - 1),
        optimizer: optimizer as Record<string, string | number | boolean>,
        globalBatch: fields.integer('globalBatch', 1, MAX_COUNTER),
        epochs: fields.integer('epochs', 0, MAX_COUNTER),
        stepsPerEpoch: fields.integer('stepsPerEpoch', 0, MAX_COUNTER),
        totalSteps: fields.integer('totalSteps', 0, MAX_COUNTER),
        seed: fields.integer('seed', 0, 2 ** 32 - 1),
        trainSize: fields.integer('trainSize', 0, MAX_COUNTER),
        validationSize: fields.integer('validationSize', 0, MAX_COUNTER),
        testSize: fields.integer('testSize', 0, MAX_COUNTER),
        kernels: fields.string('kernels', 64),
        localWorkers: fields.integer('localWorkers', 0, 1_000_000),
        resumedFromStep: fields.integer('resumedFromStep', 0, MAX_COUNTER),
        outDir: fields.string('outDir', 4096),
        ...(fields.has('minWorkers') ? { minWorkers: fields.integer('minWorkers', 0, 1_000_000) } : {}),
        ...(fields.has('joinCommand') ? { joinCommand: fields.string('joinCommand', 1024) } : {}),
        ...(fields.has('wire') ? { wire: fields.string('wire', 64) } : {}),
        ...(fields.has('topkWarmupSteps') ? { topkWarmupSteps: fields.integer('topkWarmupSteps', 0, Number.MAX_SAFE_INTEGER) } : {}),
        ...(fields.has('overlap') ? { overlap: fields.boolean('overlap') } : {}),
        ...(fields.has('overlapAfter') ? { overlapAfter: fields.integer('overlapAfter', 0, Number.MAX_SAFE_INTEGER) } : {}),
      };
    }
    case 'step':
      return {
        kind,
        step: fields.integer('step', 1, MAX_COUNTER),
        epoch: fields.integer('epoch', 1, MAX_COUNTER),
        loss: fields.finite('loss', 0, Number.MAX_VALUE),
        accuracy: fields.finite('accuracy', 0, 1),
        images: fields.integer('images', 0, MAX_COUNTER),
        imagesSeen: fields.integer('imagesSeen', 0, Number.MAX_SAFE_INTEGER),
        imagesPerSecond: fields.finite('imagesPerSecond', 0, 1e12),
        learningRate: fields.finite('learningRate', 0, 1e12),
        stepMs: fields.finite('stepMs', 0, 1e12),
        workers: fields.integer('workers', 0, 1_000_000),
        time,
        ...(fields.has('bytesDown') ? { bytesDown: fields.integer('bytesDown', 0, Number.MAX_SAFE_INTEGER) } : {}),
        ...(fields.has('bytesUp') ? { bytesUp: fields.integer('bytesUp', 0, Number.MAX_SAFE_INTEGER) } : {}),
        ...(fields.has('links') ? { links: fields.array('links', 10_000).map((link, i) => checkStepLink(link, `${where}.links[${i}]`)) } : {}),
      };
    case 'epoch': {
      const confusion = fields.array('confusion', 256 * 256);
      confusion.forEach((count, i) => {
        if (!Number.isInteger(count) || (count as number) < 0) throw new ProtocolError('BAD_FIELD', `${where}.confusion[${i}] is not a count`);
      });
      const side = Math.round(Math.sqrt(confusion.length));
      if (side * side !== confusion.length) throw new ProtocolError('BAD_LENGTH', `${where}.confusion is not square`);
      return {
        kind,
        epoch: fields.integer('epoch', 1, MAX_COUNTER),
        step: fields.integer('step', 0, MAX_COUNTER),
        trainLoss: fields.finite('trainLoss', 0, Number.MAX_VALUE),
        trainAccuracy: fields.finite('trainAccuracy', 0, 1),
        validationLoss: fields.finite('validationLoss', 0, Number.MAX_VALUE),
        validationAccuracy: fields.finite('validationAccuracy', 0, 1),
        confusion: confusion as number[],
        misclassified: fields.array('misclassified', 16).map((item, i) => checkMisclassified(item, `${where}.misclassified[${i}]`)),
        elapsedSeconds: fields.finite('elapsedSeconds', 0, 1e12),
        time,
      };
    }
    case 'test':
      return {
        kind,
        step: fields.integer('step', 0, MAX_COUNTER),
        loss: fields.finite('loss', 0, Number.MAX_VALUE),
        accuracy: fields.finite('accuracy', 0, 1),
        count: fields.integer('count', 0, MAX_COUNTER),
        time,
      };
    case 'workers':
      return {
        kind,
        workers: fields.array('workers', 10_000).map((row, i) => checkWorkerRow(row, `${where}.workers[${i}]`)),
        time,
      };
    case 'event':
      return {
        kind,
        event: fields.oneOf('event', EVENTS),
        step: fields.integer('step', 0, MAX_COUNTER),
        workerId: fields.nullable('workerId', () => fields.integer('workerId', 0, MAX_COUNTER)),
        detail: fields.string('detail', MAX_DETAIL),
        time,
      };
    case 'end':
      return {
        kind,
        reason: fields.oneOf('reason', ['finished', 'stopped', 'failed'] as const),
        step: fields.integer('step', 0, MAX_COUNTER),
        detail: fields.string('detail', MAX_DETAIL),
        time,
      };
    case 'timing':
      return {
        kind,
        step: fields.integer('step', 1, MAX_COUNTER),
        startTime: time,
        stepMs: fields.finite('stepMs', 0, MAX_PHASE_MS),
        waitMs: fields.finite('waitMs', 0, MAX_PHASE_MS),
        sumMs: fields.finite('sumMs', 0, MAX_PHASE_MS),
        optimizerMs: fields.finite('optimizerMs', 0, MAX_PHASE_MS),
        publishMs: fields.finite('publishMs', 0, MAX_PHASE_MS),
        workers: fields.array('workers', 65_536).map((item, i) => checkWorkerStepTiming(item, `${where}.workers[${i}]`)),
      };
    default: {
      const unhandled: never = kind;
      throw new ProtocolError('BAD_FIELD', `${where}.kind "${String(unhandled)}" is unknown`);
    }
  }
}
