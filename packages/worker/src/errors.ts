export type WorkerErrorCode =
  | 'BAD_OPTION'
  | 'BAD_MODEL'
  | 'STALE_PARAMETERS'
  | 'REFUSED'
  | 'DATASET_MISMATCH'
  | 'UNREACHABLE';

/** A worker failure with a machine-readable code; the CLI prints its message on one line. */
export class WorkerError extends Error {
  override readonly name = 'WorkerError';
  constructor(
    readonly code: WorkerErrorCode,
    message: string,
  ) {
    super(message);
  }
}
