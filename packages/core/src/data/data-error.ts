/** A dataset or data file that cannot be used; `message` is one line naming the source. */
export class DataError extends Error {
  readonly code = 'BAD_DATA';
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}
