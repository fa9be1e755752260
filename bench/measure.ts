/** Throughput measurement shared by the benchmark scripts. */

/**
 * images/s by the wall clock and per second of this process's CPU time. On a machine
 * shared with other work the CPU-time figure is the fair one: it does not count the time
 * the process waited for a core (it still pays for caches shared with other processes).
 */
export interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Runs `step` (one warm-up first unless told) until `seconds` have passed or `maxSteps` ran (at least one). */
export function imagesPerSecond(batch: number, seconds: number, maxSteps: number, step: () => void, warmUp = true): Rate {
  if (warmUp) step();
  let steps = 0;
  const start = performance.now();
  const startCpu = cpuSeconds();
  while (steps < maxSteps && (steps === 0 || performance.now() - start < seconds * 1000)) {
    step();
    steps++;
  }
  return { wall: (steps * batch) / ((performance.now() - start) / 1000), cpu: (steps * batch) / (cpuSeconds() - startCpu) };
}
