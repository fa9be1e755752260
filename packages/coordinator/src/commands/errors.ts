/**
 * Errors a user of the `convoy` command line meets: each has a machine-readable `code` and a
 * one-line message naming what is wrong; the command line prints the message and exits 2.
 */

export type CliErrorCode =
  | 'FILE_NOT_FOUND'
  | 'NOT_A_CHECKPOINT'
  | 'NO_MODEL_IN_RUN'
  | 'BAD_IMAGE'
  | 'WRONG_IMAGE_SIZE'
  | 'BAD_INDEX'
  | 'BAD_OPTION';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly code: CliErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The exit status of every user error (1 stays for bugs, which print a stack trace). */
export const USER_ERROR_EXIT_CODE = 2;

/** The string `code` an error carries (Convoy's coded errors, Node's ENOENT...), if any. */
export function errorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code: unknown = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
