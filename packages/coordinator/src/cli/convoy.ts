#!/usr/bin/env node
/**
 * The `convoy` command line: `pnpm convoy <command> ...` (see commands/program.ts).
 *
 *   convoy eval RUN_OR_CHECKPOINT [--data DIR] [--kernels ts|wasm|auto] [--limit N]
 *   convoy predict MODEL [image.png ...] [--idx FILE --index N[,M...]] [--json]
 *   convoy export MODEL --onnx model.onnx
 */
import { main } from '../commands/program.js';

main(process.argv.slice(2)).then(
  (exitCode) => {
    process.exitCode = exitCode;
  },
  (error: unknown) => {
    // A bug, not a user error: keep the stack.
    console.error(error);
    process.exitCode = 1;
  },
);
