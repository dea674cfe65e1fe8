// The Helm chart as CI checks it: `helm lint`, `helm template` for a 3-replica Redis setup, every
// rendered manifest validated against the Kubernetes API's strict JSON schemas (kubernetes-validate,
// from PyPI) and the CRD objects against their operators' schemas (kubernetes-models), and invalid
// values refused at `helm template` with values.schema.json's message. helm (go install) and the
// validator (pip) are installed on first use; the test is skipped, saying why, only if that fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ExternalSecret } from '@kubernetes-models/external-secrets/external-secrets.io/v1beta1/ExternalSecret';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { parseAllDocuments } from 'yaml';
import { ensurePipTool, KUBERNETES_VALIDATE } from '../../src/toolchain/pip-tools.ts';
import { ensureTool, HELM, REPO_ROOT, ToolMissingError } from '../../src/toolchain/tools.ts';

const CHART = join(REPO_ROOT, 'deploy', 'helm', 'portcullis');
const THREE_REPLICAS = join(CHART, 'ci', 'three-replicas-redis.yaml');
const KUBERNETES_VERSION = '1.33';
const log = (line: string) => process.stderr.write(`[helm test] ${line}\n`);

let helm: string | undefined;
let validator: string | undefined;
let unavailable: string | undefined;
try {
  helm = await ensureTool(HELM, log);
  validator = await ensurePipTool(KUBERNETES_VALIDATE, log);
} catch (err) {
  if (!(err instanceof ToolMissingError)) throw err;
  unavailable = `cannot install the chart tools: ${err.message.split('\n')[0]}`;
}

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML; the schema validator checks its shape
type Json = any;
type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, Json> };

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function template(...args: string[]) {
  return run(helm!, ['template', 'gw', CHART, '--namespace', 'ai-gateway', ...args]);
}

describe('Helm chart', { skip: unavailable }, () => {
  let rendered: string;
  let manifests: Manifest[];
  before(() => {
    const r = template('-f', THREE_REPLICAS);
    assert.equal(r.code, 0, r.stderr);
    rendered = r.stdout;
    manifests = parseAllDocuments(rendered)
      .map((d) => d.toJSON() as Manifest | null)
      .filter((m): m is Manifest => m !== null);
  });
  const find = (kind: string) => {
    const m = manifests.find((x) => x.kind === kind);
    assert.ok(m, `no ${kind} rendered`);
    return m;
  };

  test('helm lint passes', () => {
    const r = run(helm!, ['lint', CHART, '-f', THREE_REPLICAS, '--strict']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('the 3-replica Redis setup renders every object the gateway needs', () => {
    assert.deepEqual(manifests.map((m) => m.kind).sort(), [
      'Deployment',
      'ExternalSecret',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
    const deployment = find('Deployment');
    assert.equal(deployment.spec.replicas, 3);
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.equal(pod.terminationGracePeriodSeconds, 5 + 120 + 15);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.scheme, 'HTTPS');
    assert.ok(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution);
    assert.ok(container.args.includes('--bundle=https://bundles.example.com/acme/ai-policy/bundle.tar.gz'));
    assert.ok(container.args.includes('--tls-cert=/etc/portcullis/tls/tls.crt'));
    assert.ok(container.args.includes('--drain-seconds=120'));
    const redis = container.env.find((e: { name: string }) => e.name === 'PORTCULLIS_REDIS_URL');
    assert.deepEqual(redis.valueFrom.secretKeyRef, { name: 'portcullis-redis', key: 'url' });
    assert.ok(!rendered.includes('BEGIN'), 'no key material in rendered manifests');

    const egress = find('NetworkPolicy').spec.egress as {
      to: Record<string, Json>[];
      ports: { port: number }[];
    }[];
    const cidrs = egress.flatMap((rule) => rule.to.filter((t) => t.ipBlock).map((t) => t.ipBlock.cidr));
    assert.deepEqual(cidrs, ['160.79.104.0/23', '162.159.140.0/24']);
    assert.ok(egress.every((rule) => rule.to.every((t) => t.ipBlock || t.namespaceSelector)));
  });

  test('autoscaling replaces the fixed replica count with an HPA', () => {
    const r = template('-f', THREE_REPLICAS, '--set', 'autoscaling.enabled=true');
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJSON() as Manifest);
    const hpa = docs.find((m) => m?.kind === 'HorizontalPodAutoscaler');
    assert.equal(hpa?.spec.minReplicas, 3);
    assert.equal(docs.find((m) => m?.kind === 'Deployment')?.spec.replicas, undefined);
  });

  test(`every rendered manifest validates against the Kubernetes ${KUBERNETES_VERSION} API schemas (strict)`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-helm-'));
    const file = join(dir, 'rendered.yaml');
    writeFileSync(file, rendered);
    const ok = run(validator!, ['-k', KUBERNETES_VERSION, '--strict', '--no-warn', file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal((ok.stdout.match(/passed for resource/g) ?? []).length, 5, ok.stdout);
    new ServiceMonitor(find('ServiceMonitor') as never).validate();
    new ExternalSecret(find('ExternalSecret') as never).validate();

    // The validator is not a rubber stamp: an unknown field and a wrong type fail.
    writeFileSync(
      file,
      rendered.replace(
        'readOnlyRootFilesystem: true',
        'readOnlyRootFilesystem: true\n            readOnlyRootFilesytem: true',
      ),
    );
    const typo = run(validator!, ['-k', KUBERNETES_VERSION, '--strict', '--no-warn', file]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stdout + typo.stderr, /readOnlyRootFilesytem/);
  });

  for (const [what, args, message] of [
    ['three replicas without Redis', ['-f', THREE_REPLICAS, '--set', 'redis.existingSecret='], /\/redis/],
    [
      'a privileged container port',
      ['-f', THREE_REPLICAS, '--set', 'containerPort=80'],
      /\/containerPort.*minimum/,
    ],
    ['an unknown policy source', ['-f', THREE_REPLICAS, '--set', 'policy.source=s3'], /\/policy\/source/],
    [
      'a bundle source without its public key',
      ['-f', THREE_REPLICAS, '--set', 'policy.bundle.publicKeySecret='],
      /publicKeySecret/,
    ],
    [
      'a misspelt setting',
      ['-f', THREE_REPLICAS, '--set', 'replicas=3'],
      /additional properties 'replicas' not allowed|replicas/,
    ],
    [
      'a Redis password in values',
      ['-f', THREE_REPLICAS, '--set', 'redis.url=redis://:hunter2@redis:6379'],
      /\/redis\/url/,
    ],
  ] as const) {
    test(`invalid values fail at helm template with the schema's message: ${what}`, () => {
      const r = template(...args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /values don't meet the specifications of the schema/);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /hunter2/, 'a rejected value that holds a password is not echoed');
    });
  }
});
