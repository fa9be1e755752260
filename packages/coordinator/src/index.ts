/**
 * @convoy/coordinator's public API: start a coordinator in process, its options and
 * errors, the step-timing observer, and the local worker processes of `convoy start`.
 */
export { startCoordinator, type Coordinator } from './coordinator.js';
export {
  COORDINATOR_DEFAULTS,
  OPTION_RANGES,
  TRAIN_FILE_IMAGES,
  CoordinatorError,
  isLoopback,
  rangeProblem,
  resolveOptions,
  type CoordinatorErrorCode,
  type CoordinatorOptions,
  type OptionRange,
  type RunOptions,
  type ServerOptions,
  type TrainingOptions,
} from './defaults.js';
export { StepTimer, type StepObserver, type StepReport, type StepTiming } from './step-timing.js';
export { LOCAL_LAYOUT, localLayout, spawnLocalWorkers, waitForExit, workerCommand, type LocalWorkerOptions } from './local-workers.js';
export { parseChaosPlan, type ChaosPlan } from './chaos.js';
export { HISTORY_FILE, CHECKPOINT_FILE, MODEL_FILE } from './persistence.js';
export { RunFolder, RunFolderError } from './run-folder.js';
export type { TrainOutcome } from './trainer.js';
export type { HttpHandler } from './transport.js';
