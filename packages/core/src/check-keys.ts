/**
 * Throws `error(message)` at the first key of `object` not in `allowed`: how layer specs
 * and optimizer configs catch typos such as `kernel_size` or `learning_rate`.
 * `where` starts the message ("layer 1 (conv2d)", "optimizer adam").
 */
export function checkKeys(where: string, object: object, allowed: readonly string[], error: (message: string) => Error): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw error(`${where}: unknown option "${key}" (allowed: ${allowed.join(', ')})`);
  }
}
