// A compute thread's entry point. NOTE: a worker thread does not inherit the tsx loader
// its process started with (Node 20 runs --import hooks per thread, and a thread's own
// --import in execArgv does not reach its entry module), so it registers tsx itself
// before importing the TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./compute-thread.ts');
