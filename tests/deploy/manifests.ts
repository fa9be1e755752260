/**
 * The Kubernetes manifests of deploy/kubernetes as the tests read them: the kustomization's
 * resources parsed from YAML, and the two transformations this base uses applied the way
 * kustomize applies them (`labels` without selectors: metadata only; `images`: the tag).
 * manifests.test.ts checks this rendering against `kubectl kustomize` where kubectl exists.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../support/processes.js';

export const BASE = join(ROOT, 'deploy/kubernetes');
export const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');

/** A Kubernetes object as parsed: only the fields the tests read are typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ExecAction {
  command: string[];
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

export interface Container {
  name: string;
  image: string;
  workingDir?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: { exec?: ExecAction; httpGet?: { path: string; port: number | string }; periodSeconds?: number };
  lifecycle?: { preStop?: { exec?: ExecAction } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: object; persistentVolumeClaim?: { claimName: string } }>;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; fsGroup?: number };
  terminationGracePeriodSeconds?: number;
}

export interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    strategy?: { type?: string };
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

interface Kustomization {
  resources: string[];
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
}

export function parseYamlDocuments(text: string, source: string): unknown[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw new Error(`${source}: ${document.errors[0]!.message}`);
    return document.toJS() as unknown;
  });
}

export function readKustomization(dir = BASE): Kustomization {
  const [kustomization] = parseYamlDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'), 'kustomization.yaml');
  return kustomization as Kustomization;
}

/** Every object of the base's resource files, as written. */
export function resourceObjects(dir = BASE): KubeObject[] {
  return readKustomization(dir).resources.flatMap((file) => parseYamlDocuments(readFileSync(join(dir, file), 'utf8'), file) as KubeObject[]);
}

/** The objects as `kubectl kustomize` renders this base (the transformations it uses, nothing more). */
export function renderedObjects(dir = BASE): KubeObject[] {
  const kustomization = readKustomization(dir);
  const objects = structuredClone(resourceObjects(dir));
  for (const object of objects) {
    for (const { pairs, includeSelectors, includeTemplates } of kustomization.labels ?? []) {
      if (includeSelectors === true || includeTemplates === true) throw new Error('labels into selectors or templates: not rendered here');
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
    }
    for (const container of podSpecOf(object)?.containers ?? []) {
      const [name, tag] = container.image.split(':') as [string, string | undefined];
      const image = kustomization.images?.find((entry) => entry.name === name);
      if (image !== undefined) container.image = `${image.newName ?? name}:${image.newTag ?? tag ?? 'latest'}`;
    }
  }
  return objects;
}

function podSpecOf(object: KubeObject): PodSpec | undefined {
  return object.kind === 'Deployment' ? (object as Deployment).spec.template.spec : undefined;
}

export function findObject<T extends KubeObject>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in ${BASE}`);
  return found as T;
}

/** The one container of a Deployment's pod. */
export function containerOf(deployment: Deployment): Container {
  const containers = deployment.spec.template.spec.containers;
  if (containers.length !== 1) throw new Error(`${deployment.metadata.name}: ${containers.length} containers, the tests expect one`);
  return containers[0]!;
}

/** The value of `--flag VALUE` in a command line, or undefined. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const at = args.lastIndexOf(flag);
  return at === -1 ? undefined : args[at + 1];
}
