import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../src/common/errors/error-catalog.js';
import { EnvSchema } from '../src/config/env.schema.js';
import {
  appRoutes,
  dockerfile,
  envFile,
  filesUnder,
  metricCatalog,
  metricsServerPath,
  read,
  ROOT,
  routeShape,
  yamlDocuments,
  type Route,
} from './helpers/deploy.js';

/**
 * The deploy files (Dockerfile, deploy/kubernetes, deploy/prometheus) and the two docs about them
 * (OPERATIONAL_RUNBOOKS.md, SLA_DOCUMENTATION.md) against the code: routes from the controllers'
 * Nest metadata, variables from EnvSchema and .env.example, metrics from metrics.service.ts.
 * Nothing is started; what promtool checks (the rules' syntax and behaviour) is in check.sh.
 */

const K8S = 'deploy/kubernetes';
const SECRET_EXAMPLE = 'secret.example.yaml';
const schemaKeys = new Set(Object.keys(new EnvSchema()));
const exampleKeys = new Set(envFile('.env.example').keys());
const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

const kustomization = yamlDocuments(`${K8S}/kustomization.yaml`)[0];
const manifests = (kustomization.resources as string[]).flatMap((f) => yamlDocuments(`${K8S}/${f}`));
const byKind = (kind: string): any[] => manifests.filter((m) => m.kind === kind);
const secret = yamlDocuments(`${K8S}/${SECRET_EXAMPLE}`)[0];
const secretKeys = new Set(Object.keys({ ...secret.stringData, ...secret.data }));

/** One entry of kustomization.yaml's configMapGenerator. */
interface ConfigMapGenerator {
  name: string;
  envs?: string[];
  literals?: string[];
}

/** The ConfigMaps kustomize generates, by name. */
const configMaps = new Map<string, Map<string, string>>(
  (kustomization.configMapGenerator as ConfigMapGenerator[]).map((g) => [
    g.name,
    new Map([
      ...(g.envs ?? []).flatMap((f) => [...envFile(`${K8S}/${f}`)]),
      ...(g.literals ?? []).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
    ]),
  ]),
);

const docker = dockerfile();
const finalStage = Math.max(...docker.map((i) => i.stage));
const dockerEnv = new Map(
  docker
    .filter((i) => i.stage === finalStage && i.keyword === 'ENV')
    .flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]] as [string, string])),
);

interface Workload {
  kind: string;
  name: string;
  pod: any;
  podLabels: Record<string, string>;
  annotations: Record<string, string>;
}

const workloads: Workload[] = manifests.flatMap((m): Workload[] => {
  const template =
    m.kind === 'Deployment' || m.kind === 'Job'
      ? m.spec.template
      : m.kind === 'CronJob'
        ? m.spec.jobTemplate.spec.template
        : undefined;
  if (!template) return [];
  return [
    {
      kind: m.kind,
      name: m.metadata.name,
      pod: template.spec,
      podLabels: template.metadata?.labels ?? {},
      annotations: template.metadata?.annotations ?? {},
    },
  ];
});
const deployments = workloads.filter((w) => w.kind === 'Deployment');

/** The environment a container starts with: schema defaults < image ENV < envFrom < env. */
function effectiveEnv(container: any): Map<string, string> {
  const env = new Map<string, string>(Object.entries(new EnvSchema()).map(([k, v]) => [k, String(v ?? '')]));
  for (const [k, v] of dockerEnv) env.set(k, v);
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) for (const [k, v] of configMaps.get(from.configMapRef.name) ?? []) env.set(k, v);
    if (from.secretRef) for (const k of secretKeys) env.set(k, '<secret>');
  }
  for (const e of container.env ?? []) env.set(e.name, e.value ?? '<ref>');
  return env;
}

const num = (env: Map<string, string>, key: string): number => Number(env.get(key));

const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

let routes: Route[];
let probe: { live: string; ready: string };
beforeAll(async () => {
  routes = await appRoutes();
  const health = (handler: string): string => {
    const r = routes.find((x) => x.controller === 'HealthController' && x.handler === handler);
    if (!r) throw new Error(`HealthController.${handler} has no route`);
    return r.path;
  };
  probe = { live: health('live'), ready: health('ready') };
});

describe('deploy/kubernetes', () => {
  it('parses, and kustomization.yaml lists every manifest (the Secret example aside) and every file it names exists', () => {
    const yamlFiles = filesUnder(K8S).filter((f) => /\.ya?ml$/.test(f));
    for (const f of yamlFiles) expect(() => yamlDocuments(`${K8S}/${f}`), f).not.toThrow();
    expect([...kustomization.resources].sort()).toEqual(
      yamlFiles.filter((f) => f !== 'kustomization.yaml' && f !== SECRET_EXAMPLE).sort(),
    );
    for (const g of kustomization.configMapGenerator) {
      for (const f of g.envs ?? []) expect(existsSync(path.join(ROOT, K8S, f)), f).toBe(true);
    }
    expect(kustomization.namespace, 'the base is namespace-agnostic').toBeUndefined();
    for (const m of manifests) expect(m.metadata.namespace, `${m.kind}/${m.metadata.name}`).toBeUndefined();
    for (const kind of ['Deployment', 'Job', 'CronJob', 'Service', 'HorizontalPodAutoscaler']) {
      expect(byKind(kind).length, kind).toBeGreaterThan(0);
    }
    expect(byKind('PodDisruptionBudget').length).toBe(2);
  });

  it('runs an api and a worker Deployment, each probed on the real health routes at the port it listens on', () => {
    // The probes need no key: a probe on an authenticated route would never pass.
    for (const p of [probe.live, probe.ready]) {
      expect(routes.find((r) => r.path === p && r.method === 'GET')?.public, p).toBe(true);
    }
    expect(deployments.map((d) => effectiveEnv(d.pod.containers[0]).get('ROLE')).sort()).toEqual(['api', 'worker']);
    for (const d of deployments) {
      for (const c of d.pod.containers) {
        const env = effectiveEnv(c);
        const port = num(env, 'PORT');
        const http = c.ports.find((p: any) => p.name === 'http');
        expect(http.containerPort, `${d.name}: containerPort = PORT`).toBe(port);
        const probes = { startupProbe: probe.live, livenessProbe: probe.live, readinessProbe: probe.ready };
        for (const [kind, expected] of Object.entries(probes)) {
          const get = c[kind]?.httpGet;
          expect(get?.path, `${d.name} ${kind}`).toBe(expected);
          const probePort =
            typeof get.port === 'number' ? get.port : c.ports.find((p: any) => p.name === get.port)?.containerPort;
          expect(probePort, `${d.name} ${kind} port`).toBe(port);
        }
        // Scraped where Conveyor serves GET /metrics: METRICS_PORT (by its own server) when set,
        // else PORT (by MetricsController); a declared containerPort either way.
        expect(env.get('METRICS_ENABLED'), d.name).toBe('true');
        const metricsPort = num(env, 'METRICS_PORT') || port;
        expect(d.annotations['prometheus.io/scrape'], d.name).toBe('true');
        expect(Number(d.annotations['prometheus.io/port']), `${d.name}: scrape port = METRICS_PORT`).toBe(metricsPort);
        expect(
          c.ports.some((p: any) => p.containerPort === metricsPort),
          `${d.name}: METRICS_PORT ${metricsPort} is a containerPort`,
        ).toBe(true);
        const metricsPath = d.annotations['prometheus.io/path'];
        expect(routes.some((r) => r.path === metricsPath && r.controller === 'MetricsController')).toBe(true);
        if (metricsPort !== port) expect(metricsServerPath(), d.name).toBe(metricsPath);
      }
    }
  });

  it('sets only variables Conveyor reads, and reads secrets only from keys the Secret example has', () => {
    const known = (name: string): boolean => schemaKeys.has(name) && exampleKeys.has(name);
    for (const [name, values] of configMaps)
      for (const k of values.keys()) expect(known(k), `${name}: ${k}`).toBe(true);
    for (const k of secretKeys) expect(known(k), `${SECRET_EXAMPLE}: ${k}`).toBe(true);
    expect([...secretKeys].sort()).toEqual([
      'ADMIN_API_KEY',
      'DATABASE_REPLICA_URLS',
      'DATABASE_URL',
      'REDIS_URL',
      'SECRETS_ENCRYPTION_KEY',
    ]);
    // Left as it is, the example has no replicas: empty is valid and means every read on the primary.
    expect(secret.stringData.DATABASE_REPLICA_URLS).toBe('');
    for (const w of workloads) {
      for (const c of w.pod.containers) {
        for (const e of c.env ?? []) {
          expect(known(e.name), `${w.name}: ${e.name}`).toBe(true);
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) {
            expect(ref.name, `${w.name}: ${e.name}`).toBe(secret.metadata.name);
            expect(secretKeys.has(ref.key), `${w.name}: ${e.name} ← ${ref.key}`).toBe(true);
          }
        }
        for (const from of c.envFrom ?? []) {
          if (from.secretRef) expect(from.secretRef.name, w.name).toBe(secret.metadata.name);
          if (from.configMapRef) expect(configMaps.has(from.configMapRef.name), w.name).toBe(true);
        }
        const env = effectiveEnv(c);
        expect(env.get('NODE_ENV'), w.name).toBe('production');
        expect(env.get('DATABASE_URL'), `${w.name}: never the embedded PostgreSQL`).toBe('<secret>');
        expect(env.get('SECRETS_ENCRYPTION_KEY'), w.name).toBe('<secret>');
      }
    }
  });

  it('gives every pod more time to stop than Conveyor takes to drain and shut down', () => {
    for (const d of deployments) {
      const c = d.pod.containers[0];
      const env = effectiveEnv(c);
      const preStop = c.lifecycle?.preStop;
      const preStopMs =
        1000 *
        Number(preStop?.sleep?.seconds ?? /\bsleep\s+(\d+)/.exec((preStop?.exec?.command ?? []).join(' '))?.[1] ?? 0);
      const runsWorker = ['all', 'worker'].includes(env.get('ROLE')!);
      // The drain, then (workers) the jobs' grace and the dispatcher's in-flight deliveries.
      const needed =
        num(env, 'SHUTDOWN_DRAIN_MS') +
        (runsWorker ? num(env, 'WORKER_SHUTDOWN_GRACE_MS') + num(env, 'WEBHOOK_TIMEOUT_MS') : 0);
      expect(num(env, 'SHUTDOWN_TIMEOUT_MS'), `${d.name}: SHUTDOWN_TIMEOUT_MS`).toBeGreaterThan(needed + 1000);
      const graceMs = d.pod.terminationGracePeriodSeconds * 1000;
      expect(graceMs, `${d.name}: terminationGracePeriodSeconds`).toBeGreaterThan(
        preStopMs + num(env, 'SHUTDOWN_TIMEOUT_MS') + 1000,
      );
    }
  });

  it('runs every pod as the image’s non-root user, read-only, without capabilities, with resources set', () => {
    const user = Number(/^(\d+)/.exec(docker.filter((i) => i.keyword === 'USER').at(-1)!.args)![1]);
    for (const w of workloads) {
      expect(w.pod.automountServiceAccountToken, w.name).toBe(false);
      expect(w.pod.securityContext.runAsNonRoot, w.name).toBe(true);
      expect(w.pod.securityContext.runAsUser, w.name).toBe(user);
      for (const c of w.pod.containers) {
        expect(c.image, `${w.name}: the name kustomization.yaml's images rewrites`).toBe('conveyor');
        expect(kustomization.images.map((i: any) => i.name)).toContain(c.image);
        expect(c.securityContext.readOnlyRootFilesystem, w.name).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation, w.name).toBe(false);
        expect(c.securityContext.capabilities.drop, w.name).toContain('ALL');
        for (const k of ['requests', 'limits']) {
          expect(c.resources[k].cpu, `${w.name} ${k}`).toBeDefined();
          expect(c.resources[k].memory, `${w.name} ${k}`).toBeDefined();
        }
      }
    }
  });

  it('runs the migration Job and the backup CronJob with the npm scripts’ commands, the dumps on a claimed volume', () => {
    const commands = workloads.filter((w) => w.kind !== 'Deployment');
    expect(commands.map((w) => w.kind).sort()).toEqual(['CronJob', 'Job']);
    for (const w of commands) {
      const c = w.pod.containers[0];
      expect(c.command, `${w.name}: args keep the image's ENTRYPOINT`).toBeUndefined();
      const [node, script, ...rest] = c.args as string[];
      expect(node).toBe('node');
      const source = script.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(path.join(ROOT, source)), `${w.name}: ${source}`).toBe(true);
      const line = ['node', script, ...rest].join(' ');
      expect(Object.values(packageJson.scripts).some((s) => s === line || s.endsWith(`&& ${line}`))).toBe(true);
    }
    expect(commands.find((w) => w.kind === 'Job')!.pod.containers[0].args).toEqual(
      packageJson.scripts['migration:run'].split('&& ')[1].split(' '),
    );
    const backup = commands.find((w) => w.kind === 'CronJob')!;
    expect(['node', ...backup.pod.containers[0].args.slice(1)].join(' ')).toBe(packageJson.scripts['db:backup']);
    const dir = effectiveEnv(backup.pod.containers[0]).get('BACKUP_DIR');
    const mount = backup.pod.containers[0].volumeMounts.find((m: any) => m.mountPath === dir);
    expect(mount, `BACKUP_DIR ${dir} is a mounted volume`).toBeDefined();
    const claim = backup.pod.volumes.find((v: any) => v.name === mount.name).persistentVolumeClaim.claimName;
    expect(byKind('PersistentVolumeClaim').map((p) => p.metadata.name)).toContain(claim);
  });

  it('points Services, the HPA and the PodDisruptionBudgets at the Deployments', () => {
    const podsOf = (selector: Record<string, string>): Workload[] =>
      deployments.filter((d) => matches(selector, d.podLabels));
    for (const d of deployments) {
      const m = byKind('Deployment').find((x) => x.metadata.name === d.name);
      expect(matches(m.spec.selector.matchLabels, d.podLabels), d.name).toBe(true);
    }
    for (const s of byKind('Service')) {
      const [target] = podsOf(s.spec.selector);
      expect(target, s.metadata.name).toBeDefined();
      const container = target.pod.containers[0];
      const metricsPort = num(effectiveEnv(container), 'METRICS_PORT');
      for (const p of s.spec.ports) {
        const port = container.ports.find((cp: any) => cp.name === p.targetPort || cp.containerPort === p.targetPort);
        expect(port, `${s.metadata.name}: ${p.targetPort}`).toBeDefined();
        // GET /metrics needs no key: only a headless Service (no virtual IP an ingress can route to) may carry it.
        if (s.spec.clusterIP !== 'None')
          expect(port.containerPort, `${s.metadata.name} carries METRICS_PORT`).not.toBe(metricsPort);
      }
    }
    expect(byKind('Service').find((s) => s.metadata.name === 'conveyor-api').spec.ports[0].port).toBe(80);
    const hpa = byKind('HorizontalPodAutoscaler')[0];
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    const scaled = byKind('Deployment').find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
    expect(scaled?.spec.replicas, 'the HPA owns replicas').toBeUndefined();
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    expect(scaled.spec.template.spec.containers[0].resources.requests.cpu).toBeDefined();
    for (const pdb of byKind('PodDisruptionBudget')) {
      const [target] = podsOf(pdb.spec.selector.matchLabels);
      expect(target, pdb.metadata.name).toBeDefined();
      if (target.name === scaled.metadata.name) expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
    }
  });
});

describe('Dockerfile', () => {
  const final = docker.filter((i) => i.stage === finalStage);
  const json = (keyword: string): string[] => JSON.parse(final.find((i) => i.keyword === keyword)!.args);

  it('builds in one stage and runs node 24 with production dependencies only in the last', () => {
    const froms = docker.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(/\s+/)[0]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:24-bookworm-slim$/);
    const runs = (stage: number): string =>
      docker
        .filter((i) => i.stage === stage && i.keyword === 'RUN')
        .map((i) => i.args)
        .join('\n');
    const build = docker.find((i) => i.keyword === 'RUN' && /npm run build/.test(i.args))!;
    expect(runs(build.stage)).toMatch(/npm ci(?! --omit)/);
    const copies = docker.filter((i) => i.stage === build.stage && i.keyword === 'COPY').map((i) => i.args);
    const tsconfigBuild = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const input of [...tsconfigBuild.include, 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) {
      expect(
        copies.some((c) => c.split(/\s+/).includes(input)),
        `the build copies ${input}`,
      ).toBe(true);
    }
    const modules = final.find((i) => i.keyword === 'COPY' && /\/node_modules\b/.test(i.args))!;
    const from = /--from=(\S+)/.exec(modules.args)![1];
    const depsStage = docker.find((i) => i.keyword === 'FROM' && new RegExp(`\\bAS ${from}$`, 'i').test(i.args))!.stage;
    expect(runs(depsStage)).toMatch(/npm ci --omit=dev/);
    expect(dockerEnv.get('NODE_ENV')).toBe('production');
    for (const k of dockerEnv.keys()) expect(schemaKeys.has(k) && exampleKeys.has(k), k).toBe(true);
  });

  it('runs as a numeric non-root user, under dumb-init, the same command as npm run start:prod', () => {
    const user = final.filter((i) => i.keyword === 'USER').at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(json('ENTRYPOINT')[0]).toMatch(/^(dumb-init|tini)$/);
    expect(json('CMD').join(' ')).toBe(packageJson.scripts['start:prod']);
    expect(Number(final.find((i) => i.keyword === 'EXPOSE')!.args)).toBe(Number(dockerEnv.get('PORT')));
  });

  it('checks its health on the liveness route', () => {
    const check = final.find((i) => i.keyword === 'HEALTHCHECK')!.args;
    expect(/'(\/api\/v1\/[^']+)'/.exec(check)?.[1]).toBe(probe.live);
  });

  it('keeps secrets and build output out of the context, and not what the build copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['.git', 'node_modules', 'dist', '.data', '.env']) expect(ignored).toContain(p);
    const sources = docker
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const s of sources) expect(ignored, s).not.toContain(s);
  });
});

describe('deploy/prometheus and the docs', () => {
  const rules = yamlDocuments('deploy/prometheus/rules.yml')[0].groups.flatMap((g: any) =>
    g.rules.map((r: any) => ({ ...r, group: g.name })),
  ) as Array<{ record?: string; alert?: string; expr: string; group: string; labels?: any; annotations?: any }>;
  const records = new Map(rules.filter((r) => r.record).map((r) => [r.record!, r.expr]));
  const alerts = rules.filter((r) => r.alert);
  const catalog = metricCatalog();
  const targetLabels = ['job', 'instance', 'namespace', 'pod', 'component'];
  const runbooks = read('docs/OPERATIONAL_RUNBOOKS.md');
  const sla = read('docs/SLA_DOCUMENTATION.md');
  const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();

  /** Metric and label names of a PromQL expression that are not Conveyor's are an error. */
  function unknownNames(expr: string): string[] {
    // Quoted label values and range selectors ([5m], [30d:5m]) hold no names.
    const text = expr.replace(/"[^"]*"/g, '""').replace(/\[[^\]]*\]/g, '');
    const bad: string[] = [];
    for (const [token] of text.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
      if (token.includes(':') && !records.has(token)) bad.push(token);
      if (/^(conveyor_|http_)/.test(token) && !catalog.names.has(token)) bad.push(token);
    }
    // A selector's matchers name labels of that metric (or of the scrape target).
    for (const [, metric, matchers] of text.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
      const own = catalog.labelsOf.get(metric) ?? new Set<string>();
      for (const [, label] of matchers.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
        if (!own.has(label) && !targetLabels.includes(label)) bad.push(`${metric}{${label}}`);
      }
    }
    const labelLists = [
      ...[...text.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) =>
        m[1].split(',').map((s) => s.trim()),
      ),
    ];
    for (const label of labelLists) if (!catalog.labels.has(label) && !targetLabels.includes(label)) bad.push(label);
    return bad;
  }

  it('uses only metric and label names that Conveyor exports, the scrape job the rules select', () => {
    for (const r of rules) expect(unknownNames(r.expr), r.record ?? r.alert).toEqual([]);
    for (const doc of [runbooks, sla]) {
      for (const [, block] of doc.matchAll(/```promql\n([\s\S]*?)```/g)) {
        for (const line of block.split('\n').filter((l) => l && !l.startsWith('#')))
          expect(unknownNames(line), line).toEqual([]);
      }
    }
    for (const r of rules) expect(r.expr, r.record ?? r.alert).not.toMatch(/job="(?!conveyor")/);
    const prometheus = yamlDocuments('deploy/prometheus/prometheus.yml')[0];
    expect(prometheus.rule_files).toContain('rules.yml');
    const job = prometheus.scrape_configs.find((s: any) => s.job_name === 'conveyor');
    const keep = (label: string): string =>
      job.relabel_configs.find((r: any) => r.action === 'keep' && r.source_labels[0] === label).regex;
    for (const d of deployments) {
      expect(d.podLabels['app.kubernetes.io/name']).toBe(keep('__meta_kubernetes_pod_label_app_kubernetes_io_name'));
      expect(d.annotations['prometheus.io/scrape']).toBe(keep('__meta_kubernetes_pod_annotation_prometheus_io_scrape'));
    }
  });

  it('tests every alert firing and not firing, and gives each a runbook section its runbook_url points to', () => {
    const tests = yamlDocuments('deploy/prometheus/rules.test.yml')[0].tests.flatMap(
      (t: any) => t.alert_rule_test ?? [],
    );
    for (const a of alerts) {
      const name = a.alert!;
      expect(
        tests.some((t: any) => t.alertname === name && t.exp_alerts.length > 0),
        `${name} fires`,
      ).toBe(true);
      expect(
        tests.some((t: any) => t.alertname === name && t.exp_alerts.length === 0),
        `${name} stays quiet`,
      ).toBe(true);
      expect(['critical', 'warning']).toContain(a.labels.severity);
      expect(a.annotations.runbook_url).toBe(`docs/OPERATIONAL_RUNBOOKS.md#${name.toLowerCase()}`);
      expect(runbooks, name).toContain(`\n## ${name}\n`);
    }
    const sections = [...runbooks.matchAll(/^## (Conveyor\w+)$/gm)].map((m) => m[1]);
    expect(sections.sort()).toEqual(alerts.map((a) => a.alert).sort());
    expect(read('.ci/run')).toMatch(/^step "prometheus rules \(promtool\)" bash deploy\/prometheus\/check\.sh$/m);
  });

  it('SLA_DOCUMENTATION.md quotes every SLO recording rule it names verbatim, and names each of them', () => {
    const named = new Set([...sla.matchAll(/conveyor:[a-z0-9_:]+/g)].map((m) => m[0]));
    for (const name of named) {
      expect(records.has(name), name).toBe(true);
      expect(squash(sla), name).toContain(squash(records.get(name)!));
    }
    for (const r of rules.filter((x) => x.group === 'conveyor-slo-recording'))
      expect(named, r.record).toContain(r.record);
  });

  it('the docs name only routes, scripts, variables, metrics, alerts, files and objects that exist', () => {
    const shapes = new Set(routes.map((r) => routeShape(r.path)));
    const names = new Map<string, Set<string>>();
    for (const m of manifests) (names.get(m.kind) ?? names.set(m.kind, new Set()).get(m.kind)!).add(m.metadata.name);
    names.set('Secret', new Set([secret.metadata.name]));
    const kinds: Record<string, string> = {
      deployment: 'Deployment',
      job: 'Job',
      cronjob: 'CronJob',
      svc: 'Service',
      hpa: 'HorizontalPodAutoscaler',
      secret: 'Secret',
    };
    const dockerArgs = docker.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=')[0]);
    for (const [file, doc] of [
      ['OPERATIONAL_RUNBOOKS.md', runbooks],
      ['SLA_DOCUMENTATION.md', sla],
    ]) {
      // Label regexes in PromQL (route=~"/api/v1/.+") are not routes.
      const prose = doc.replace(/```promql\n[\s\S]*?```/g, '');
      for (const [p] of prose.matchAll(/\/api\/v1\/[A-Za-z0-9_\-/{}:$.<>]*[A-Za-z0-9_}>]/g)) {
        expect(shapes.has(routeShape(p)), `${file}: ${p}`).toBe(true);
      }
      for (const [, script] of doc.matchAll(/npm run ([a-z:]+)/g))
        expect(packageJson.scripts, `${file}: ${script}`).toHaveProperty([script]);
      for (const m of doc.matchAll(/(?<![$\w])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(_\*)?(?!\w|\.md)/g)) {
        const [, name, wildcard] = m;
        const ok = wildcard
          ? [...schemaKeys].some((k) => k.startsWith(`${name}_`))
          : schemaKeys.has(name) || name in ERROR_CATALOG || dockerArgs.includes(name);
        expect(ok, `${file}: ${name}${wildcard ?? ''}`).toBe(true);
      }
      for (const [metric] of doc.matchAll(/(?<![:\w])(?:conveyor|http)_[a-z_]+(?![:\w])/g))
        expect(catalog.names.has(metric) || catalog.names.has(`${metric}_bucket`), `${file}: ${metric}`).toBe(true);
      for (const [alert] of doc.matchAll(/\bConveyor[A-Z]\w+/g))
        expect(
          alerts.map((a) => a.alert),
          `${file}: ${alert}`,
        ).toContain(alert);
      for (const [f] of doc.matchAll(/\b(?:deploy|src|docs|test)\/[\w./-]*\w/g))
        expect(existsSync(path.join(ROOT, f)), `${file}: ${f}`).toBe(true);
      for (const [, kind, name] of doc.matchAll(/\b(deployment|job|cronjob|svc|hpa|secret)[/ ](conveyor-[a-z-]+)/g)) {
        expect(names.get(kinds[kind])?.has(name), `${file}: ${kind}/${name}`).toBe(true);
      }
    }
  });
});
