/**
 * deploy/kubernetes without a cluster: every object valid against the Kubernetes schemas
 * (kubernetes-models, offline; and no field the API does not know), `kubectl kustomize`'s
 * rendering equal to what the other deploy tests read (where kubectl is installed: CI
 * need not have it), and the wiring between the objects and Convoy's command lines: the
 * name workers connect to is the Service's, the probe reads the file the worker writes,
 * the token comes from one Secret key, the run folder is on the claim.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BASE, DOCKERFILE, containerOf, findObject, flagValue, parseYamlDocuments, renderedObjects, resourceObjects, type Deployment, type KubeObject } from './manifests.js';
import { IMAGE_WORKDIR } from './pods.js';
import { schemaErrors, unknownFieldErrors } from './schemas.js';

const objects = renderedObjects();
const coordinator = findObject<Deployment>(objects, 'Deployment', 'convoy-coordinator');
const worker = findObject<Deployment>(objects, 'Deployment', 'convoy-worker');
const service = findObject<KubeObject & { spec: { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: number | string }> } }>(objects, 'Service', 'convoy-coordinator');
const coordinatorContainer = containerOf(coordinator);
const workerContainer = containerOf(worker);

const byKindAndName = (a: KubeObject, b: KubeObject) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`);
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
if (!hasKubectl) console.warn('SKIPPED the kubectl kustomize comparison: kubectl is not installed (the schema checks run without it)');

describe('deploy/kubernetes against the Kubernetes schemas', () => {
  it('holds the coordinator Deployment, its Service, the run-folder claim and the worker Deployment', () => {
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'Deployment/convoy-coordinator',
      'Deployment/convoy-worker',
      'PersistentVolumeClaim/convoy-runs',
      'Service/convoy-coordinator',
    ]);
  });

  it('every object passes kubernetes-models validation, and a broken copy does not', async () => {
    expect(await schemaErrors(objects)).toEqual([]);
    const broken = structuredClone(worker);
    (broken.spec as Record<string, unknown>)['replicas'] = 'two';
    expect(await schemaErrors([broken])).toEqual(['Deployment convoy-worker: data/spec/replicas must be integer']);
  });

  it('no object has a field the API does not know (a misspelt field is caught)', () => {
    expect(unknownFieldErrors(objects)).toEqual([]);
    const broken = structuredClone(worker);
    const container = broken.spec.template.spec.containers[0]! as unknown as Record<string, unknown>;
    container['readinesProbe'] = container['readinessProbe'];
    delete container['readinessProbe'];
    const errors = unknownFieldErrors([broken]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^Deployment convoy-worker: .*'"readinesProbe"' does not exist in type 'IContainer'/);
  });

  it.skipIf(!hasKubectl)('kubectl kustomize renders exactly the objects the tests read, and they validate', async () => {
    const rendered = spawnSync('kubectl', ['kustomize', BASE], { encoding: 'utf8' });
    expect(rendered.status, rendered.stderr).toBe(0);
    const fromKubectl = parseYamlDocuments(rendered.stdout, 'kubectl kustomize') as KubeObject[];
    expect([...fromKubectl].sort(byKindAndName)).toEqual([...objects].sort(byKindAndName));
    expect(await schemaErrors(fromKubectl)).toEqual([]);
  });
});

describe('the wiring between the objects and the command lines', () => {
  it('workers connect to the Service by name; the Service reaches the coordinator container on the port it listens on', () => {
    const url = new URL(flagValue(workerContainer.args ?? [], '--connect')!);
    expect(url.protocol).toBe('ws:');
    expect(url.hostname).toBe(service.metadata.name);
    const [port] = service.spec.ports;
    expect(Number(url.port)).toBe(port!.port);
    const containerPort = coordinatorContainer.ports!.find((candidate) => candidate.name === port!.targetPort)!;
    expect(containerPort.containerPort).toBe(Number(flagValue(coordinatorContainer.args ?? [], '--port')));
    // NOTE: the netns test connects to the coordinator's own address, so it relies on Service port = container port.
    expect(containerPort.containerPort).toBe(port!.port);
    expect(service.spec.selector).toEqual(coordinator.spec.template.metadata.labels);
    expect(flagValue(coordinatorContainer.args ?? [], '--host')).toBe('0.0.0.0');
  });

  it('each Deployment selects its own pods, and only those', () => {
    for (const deployment of [coordinator, worker]) {
      expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    }
    expect(coordinator.spec.selector.matchLabels).not.toEqual(worker.spec.selector.matchLabels);
  });

  it('one coordinator, never two at once; workers scale as deployment/convoy-worker', () => {
    expect(coordinator.spec.replicas).toBe(1);
    expect(coordinator.spec.strategy?.type).toBe('Recreate');
    expect(worker.metadata.name).toBe('convoy-worker');
  });

  it('the worker is ready when its --ready-file exists; the preStop hook waits on the same file', () => {
    const readyFile = flagValue(workerContainer.args ?? [], '--ready-file')!;
    expect(workerContainer.readinessProbe?.exec?.command).toEqual(['test', '-f', readyFile]);
    expect(workerContainer.lifecycle?.preStop?.exec?.command.join(' ')).toContain(readyFile);
    const tmp = workerContainer.volumeMounts!.find((mount) => readyFile.startsWith(`${mount.mountPath}/`));
    expect(tmp, 'the ready file is on a writable volume (the root file system is read-only)').toBeDefined();
  });

  it('the worker computes on as many threads as the cores it requests (its default would be every core of the node)', () => {
    expect(flagValue(workerContainer.args ?? [], '--threads')).toBe(String(workerContainer.resources?.requests?.['cpu']));
  });

  it('both take CONVOY_TOKEN from the same key of the same Secret, which the base does not hold', () => {
    const tokenOf = (container: typeof workerContainer) => container.env?.find((variable) => variable.name === 'CONVOY_TOKEN')?.valueFrom?.secretKeyRef;
    expect(tokenOf(coordinatorContainer)).toBeDefined();
    expect(tokenOf(workerContainer)).toEqual(tokenOf(coordinatorContainer));
    expect(resourceObjects().some((object) => object.kind === 'Secret')).toBe(false);
    expect(coordinatorContainer.args ?? []).not.toContain('--token');
    expect(workerContainer.args ?? []).not.toContain('--token');
  });

  it("the coordinator's run folder is on the claim the base holds", () => {
    const runDir = coordinatorContainer.env!.find((variable) => variable.name === 'CONVOY_RUN_DIR')!.value!;
    const mount = coordinatorContainer.volumeMounts!.find((candidate) => runDir.startsWith(`${candidate.mountPath}/`))!;
    const volume = coordinator.spec.template.spec.volumes!.find((candidate) => candidate.name === mount.name)!;
    expect(volume.persistentVolumeClaim?.claimName).toBe('convoy-runs');
    expect(findObject(objects, 'PersistentVolumeClaim', 'convoy-runs').spec).toMatchObject({ accessModes: ['ReadWriteOnce'] });
  });

  it("both run as the image's non-root user, from its working directory, with a read-only root file system", () => {
    const dockerfile = readFileSync(DOCKERFILE, 'utf8');
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
    expect(user).not.toBeNull();
    expect([...dockerfile.matchAll(/^WORKDIR (\S+)$/gm)].map((match) => match[1]).at(-1)).toBe(IMAGE_WORKDIR);
    for (const deployment of [coordinator, worker]) {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user![1]), runAsGroup: Number(user![2]) });
      const container = containerOf(deployment);
      expect(container.workingDir).toBe(IMAGE_WORKDIR);
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    }
  });

  it('both request the CPU and memory docs/deploy.md states, with a memory limit above the request', () => {
    const docs = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
    for (const container of [coordinatorContainer, workerContainer]) {
      const { requests, limits } = container.resources ?? {};
      expect(requests?.['cpu']).toBeDefined();
      expect(requests?.['memory']).toBeDefined();
      expect(docs).toContain(`\`${requests!['cpu']}\` CPU, \`${requests!['memory']}\``);
      expect(parseMebibytes(limits!['memory']!)).toBeGreaterThan(parseMebibytes(requests!['memory']!));
    }
  });
});

function parseMebibytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (match === null) throw new Error(`memory quantity ${quantity}: the tests read Mi and Gi`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}
