/**
 * The agent's Helm chart (deploy/helm/sluice-agent): `helm lint` with the layer's helm 4, the
 * rendered objects through `sluice validate` (the repo's own policies and schemas), and accepted
 * by a real kube-apiserver (server-side dry run), with both RBAC scopes.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ensureTools } from '../../shared/adapters/render-tools/layer.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { REPO_ROOT } from '../support/kube.ts';
import { admin } from './harness.ts';

const run = promisify(execFile);
const kube = inject('kube');
const CHART = path.join(REPO_ROOT, 'deploy/helm/sluice-agent');
const VALUE_SETS = ['ci/test-values.yaml', 'ci/namespaced-values.yaml'] as const;

let helm: string;
const dir = mkdtempSync(path.join(tmpdir(), 'sluice-chart-'));

/** `helm` with its exit status and output, never throwing. */
const helmRun = async (...args: string[]) =>
  run(helm, args, { cwd: REPO_ROOT }).then(
    (r) => ({ ok: true, out: r.stdout + r.stderr }),
    (e: { stdout?: string; stderr?: string }) => ({ ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );

const render = async (values: string, ...more: string[]): Promise<KubeObject[]> => {
  const res = await helmRun(
    'template',
    'agent',
    CHART,
    '-n',
    'sluice-system',
    '-f',
    path.join(CHART, values),
    ...more,
  );
  if (!res.ok) throw new Error(res.out);
  return parseAllDocuments(res.out)
    .map((d) => d.toJSON() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
};

beforeAll(async () => {
  helm = (await ensureTools()).helm;
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('deploy/helm/sluice-agent', () => {
  it.each(VALUE_SETS)('passes helm lint --strict with %s', async (values) => {
    const res = await helmRun('lint', CHART, '--strict', '-f', path.join(CHART, values));
    expect(res.out).toContain('0 chart(s) failed');
    expect(res.ok).toBe(true);
  });

  it('refuses to render without a queue URL or with a latest image, naming the value to set', async () => {
    const missing = await helmRun('template', 'agent', CHART, '--set', 'target=t,aws.region=r,aws.bucket=b');
    expect(missing.ok).toBe(false);
    expect(missing.out).toContain('queue.url is required');
    const latest = await helmRun(
      'template',
      'agent',
      CHART,
      '-f',
      path.join(CHART, VALUE_SETS[0]),
      '--set',
      'image.tag=latest',
    );
    expect(latest.ok).toBe(false);
    expect(latest.out).toContain('image.tag must be an exact version');
  });

  it('renders objects that pass sluice validate, as an app of a config repo', () => {
    // GIVEN the chart as a helm app, once per value set
    cpSync(CHART, path.join(dir, 'apps/sluice-agent'), { recursive: true });
    writeFileSync(
      path.join(dir, 'sluice.yaml'),
      [
        'apiVersion: sluice.dev/v1',
        'kind: Fleet',
        'targets:',
        '  - { name: onprem-fra1, cloud: onprem, region: fra1, labels: { env: prod } }',
        '  - { name: onprem-ber1, cloud: onprem, region: ber1, labels: { env: edge } }',
        'apps:',
        '  - name: sluice-agent',
        '    path: apps/sluice-agent',
        '    kind: helm',
        '    namespace: sluice-system',
        '    targets: {}',
        '    environments:',
        ...VALUE_SETS.map((v, i) => `      ${i === 0 ? 'prod' : 'edge'}: { valueFiles: [${v}] }`),
        '',
      ].join('\n'),
    );
    // WHEN sluice validate renders it and runs the policies THEN nothing is violated
    const res = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/sluice.mjs'), 'validate', dir], {
      encoding: 'utf8',
    });
    expect(res.stdout + res.stderr).toContain('2 render(s)');
    expect(res.status).toBe(0);
  });

  it('keeps the cluster scope at least what deploy/agent/rbac.yaml grants', async () => {
    const chartRole = (await render(VALUE_SETS[0])).find((o) => o.kind === 'ClusterRole') as
      | (KubeObject & { rules: { apiGroups: string[]; resources: string[] }[] })
      | undefined;
    const kustomizeRole = parseAllDocuments(
      readFileSync(path.join(REPO_ROOT, 'deploy/agent/rbac.yaml'), 'utf8'),
    )
      .map((d) => d.toJSON() as KubeObject & { rules?: { apiGroups: string[]; resources: string[] }[] })
      .find((o) => o.kind === 'ClusterRole');
    const pairs = (rules: { apiGroups: string[]; resources: string[] }[] = []) =>
      new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`))));
    expect([...pairs(kustomizeRole?.rules)].filter((p) => !pairs(chartRole?.rules).has(p))).toEqual([]);
  });

  it.each(VALUE_SETS)(
    'renders objects the API server accepts (server-side dry run) with %s',
    async (values) => {
      const { request } = admin(kube);
      for (const ns of ['sluice-system', 'team-a', 'team-b']) {
        await request('POST', '/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns },
        });
      }
      const objects = await render(values);
      expect(objects.map((o) => o.kind)).toContain('Deployment');
      for (const object of objects) {
        const [group, version] = object.apiVersion.includes('/')
          ? object.apiVersion.split('/')
          : ['', object.apiVersion];
        const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
        const plural = `${object.kind.toLowerCase()}s`.replace(/ys$/, 'ies');
        const ns = object.metadata.namespace ? `/namespaces/${object.metadata.namespace}` : '';
        const res = await request(
          'PATCH',
          `${base}${ns}/${plural}/${object.metadata.name}?dryRun=All&fieldManager=chart-test&fieldValidation=Strict`,
          object,
          'application/apply-patch+yaml',
        );
        expect({ object: `${object.kind}/${object.metadata.name}`, status: res.status }).toEqual({
          object: `${object.kind}/${object.metadata.name}`,
          status: expect.toSatisfy((s: number) => s < 300),
        });
      }
    },
  );
});
