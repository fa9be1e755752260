/**
 * Kubernetes objects checked offline against the API's schemas, two ways:
 *  - kubernetes-models' validators (types, formats, required fields, enums);
 *  - the same package's TypeScript types for the fields that exist: its validators accept
 *    a field the API does not know (a misspelt `readinesProbe` would pass and be dropped by
 *    the API server), so each object is also compiled as a typed object literal, whose
 *    excess-property check names any unknown field at any depth.
 */
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../support/processes.js';
import type { KubeObject } from './manifests.js';

/** The kinds this base uses: the module of their model and the name of its TypeScript type. */
const MODELS: Readonly<Record<string, { module: string; type: string }>> = {
  'apps/v1 Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'v1 Service': { module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1 PersistentVolumeClaim': { module: 'kubernetes-models/v1/PersistentVolumeClaim', type: 'IPersistentVolumeClaim' },
};

function modelOf(object: KubeObject): { module: string; type: string } {
  const model = MODELS[`${object.apiVersion} ${object.kind}`];
  if (model === undefined) throw new Error(`${object.apiVersion} ${object.kind} ${object.metadata.name}: no schema known to the tests`);
  return model;
}

/** kubernetes-models' validation: one message per invalid object ("Deployment x: data/spec/replicas must be integer"). */
export async function schemaErrors(objects: readonly KubeObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const object of objects) {
    const { module, type } = modelOf(object);
    const className = type.slice(1); // IDeployment -> Deployment
    const exports = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
    try {
      new exports[className]!(object).validate();
    } catch (error) {
      errors.push(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** Fields the API does not know, and wrong types, as the TypeScript compiler reports them against kubernetes-models' types. */
export function unknownFieldErrors(objects: readonly KubeObject[]): string[] {
  const fileName = join(ROOT, 'tests/deploy/.manifests-as-typescript.ts');
  const models = objects.map(modelOf);
  const source = [
    ...[...new Set(models.map(({ module, type }) => `import type { ${type} } from '${module}';`))],
    ...objects.map((object, i) => `export const object${i}: ${models[i]!.type} = ${JSON.stringify(object, null, 1)};`),
  ].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    // The smallest library the models' types need: the check compiles in a few seconds, not ten.
    lib: ['lib.es5.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (name === fileName ? ts.createSourceFile(name, source, language, true) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => name === fileName || fileExists.call(host, name);
  host.readFile = (name) => (name === fileName ? source : readFile.call(host, name));
  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const at = diagnostic.file === undefined || diagnostic.start === undefined ? null : diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    // Name the object: the line of its `export const objectN`.
    const objectIndex = at === null ? -1 : source.split('\n').slice(0, at.line + 1).filter((line) => line.startsWith('export const object')).length - 1;
    const object = objects[objectIndex];
    return `${object === undefined ? '?' : `${object.kind} ${object.metadata.name}`}: ${text}`;
  });
}
