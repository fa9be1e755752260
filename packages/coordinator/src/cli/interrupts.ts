/**
 * Ctrl-C and SIGTERM for the coordinator's command line: the first asks for a clean stop
 * (finish the step, checkpoint, record the end), a later one quits at once.
 *
 * NOTE: one Ctrl-C in a terminal can reach this process twice within milliseconds: the
 * terminal sends SIGINT to the whole foreground process group, and pnpm (`pnpm start`)
 * forwards the SIGINT it got to its child as well. A signal within DUPLICATE_WINDOW_MS of
 * the first is that same keypress, not a second one.
 */
export const DUPLICATE_WINDOW_MS = 1_000;

export interface InterruptHandlers {
  /** The first signal: stop cleanly. */
  readonly stop: (signal: NodeJS.Signals) => void;
  /** A signal after the window: quit now. */
  readonly quit: (signal: NodeJS.Signals) => void;
}

/** Returns the handler to install for SIGINT and SIGTERM; `now` is injectable for tests. */
export function interruptHandler(handlers: InterruptHandlers, now: () => number = () => performance.now()): (signal: NodeJS.Signals) => void {
  let first: number | null = null;
  return (signal) => {
    const time = now();
    if (first === null) {
      first = time;
      handlers.stop(signal);
    } else if (time - first > DUPLICATE_WINDOW_MS) {
      handlers.quit(signal);
    }
  };
}
