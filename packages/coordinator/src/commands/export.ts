/**
 * `convoy export MODEL --onnx model.onnx`: the trained network as a standard ONNX model
 * (opset 13; input "input" float [N, C, H, W] in [0, 1], output "probabilities" [N, classes]).
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { exportOnnx } from '@convoy/core';
import { CliError } from './errors.js';
import { loadCheckpointFile } from './load-model.js';

export interface ExportOptions {
  /** Where to write the .onnx file. */
  readonly onnx: string;
}

export interface ExportResult {
  readonly modelPath: string;
  readonly onnxPath: string;
  readonly bytes: number;
}

export function exportModel(target: string, options: ExportOptions): ExportResult {
  const checkpoint = loadCheckpointFile(target);
  let bytes: Uint8Array;
  try {
    bytes = exportOnnx(checkpoint.spec, checkpoint.params, { metadata: { 'convoy.source': basename(checkpoint.path) } });
  } catch (error) {
    if (error instanceof Error && 'code' in error) throw new CliError('NOT_A_CHECKPOINT', `${checkpoint.path}: ${error.message}`);
    throw error;
  }
  try {
    writeFileSync(options.onnx, bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError('BAD_OPTION', `${options.onnx}: cannot write (${code ?? (error as Error).message})`);
  }
  return { modelPath: checkpoint.path, onnxPath: options.onnx, bytes: bytes.length };
}

export function runExport(target: string, options: ExportOptions, print: (text: string) => void): void {
  const result = exportModel(target, options);
  print(`wrote ${result.onnxPath} (${(result.bytes / 1e6).toFixed(2)} MB, ONNX opset 13) from ${result.modelPath}`);
}
