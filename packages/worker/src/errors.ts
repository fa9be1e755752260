export type WorkerErrorCode =
  | 'BAD_OPTION'
  | 'BAD_MODEL'
  | 'STALE_PARAMETERS'
  | 'REFUSED'
  | 'DATASET_MISMATCH'
  | 'UNREACHABLE'
  | 'THREAD_FAILED';

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

/** A connection failure as a person reads it: what happened, not the errno alone. */
export function describeSocketError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  const host = (error as { hostname?: string }).hostname;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused: nothing listens on that port';
    case 'ENOTFOUND':
      return `unknown host${host === undefined ? '' : ` "${host}"`}`;
    case 'EAI_AGAIN':
      return `cannot resolve${host === undefined ? ' the host' : ` "${host}"`} right now (DNS)`;
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return error.message;
  }
}
