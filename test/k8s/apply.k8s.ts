import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { clusterSecretRef, SecretKubeconfigCluster } from '../../shared/adapters/k8s/secret-kubeconfig.ts';
import { applyRequested } from '../../shared/core/agent.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { REPO_ROOT } from '../support/kube.ts';
import { admin, configMap, getObject, grantAgentRbac, harness, namespace, uniqueName } from './harness.ts';

const kube = inject('kube');

beforeAll(async () => {
  await grantAgentRbac(kube);
});

const cmPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;

describe('KubernetesCluster apply', () => {
  it('applies a bundle with ownership labels and re-applies it idempotently', async () => {
    // GIVEN a bundle with a Namespace, ConfigMaps and a Service, in an unhelpful order
    const h = harness(kube);
    const ns = uniqueName('apply');
    const objects: KubeObject[] = [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: ns },
        spec: { ports: [{ port: 80 }], selector: { app: 'web' } },
      },
      configMap(ns, 'one'),
      configMap(ns, 'two'),
      namespace(ns),
    ];

    // WHEN it is delivered
    const first = await h.deliver('shop', objects, 1);

    // THEN every object is in the cluster, labelled as Sluice's for this app
    expect(first.detailType).toBe('Deployment Succeeded');
    expect(first.detail).toMatchObject({ applied: 4, unchanged: 0, pruned: 0 });
    const one = await getObject(kube, cmPath(ns, 'one'));
    expect(one?.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'sluice',
      'sluice.dev/app': 'shop',
    });
    expect(one?.metadata.managedFields.some((f: { manager: string }) => f.manager === 'sluice')).toBe(true);

    // WHEN the same bundle comes again as the next generation
    const again = await h.deliver('shop', objects, 2);
    // THEN nothing changes in the cluster
    expect(again.detail).toMatchObject({ applied: 0, unchanged: 4 });
    const oneAgain = await getObject(kube, cmPath(ns, 'one'));
    expect(oneAgain?.metadata.resourceVersion).toBe(one?.metadata.resourceVersion);

    // WHEN the same generation is delivered twice (at-least-once delivery)
    const duplicate = await h.deliver('shop', objects, 2);
    // THEN it is a no-op that re-reports success
    expect(duplicate.detailType).toBe('Deployment Succeeded');
    expect(duplicate.detail).toMatchObject({ applied: 0, pruned: 0 });
  });

  it('sends manifests unaltered: fields only a CRD knows survive, and the CRD comes first', async () => {
    // GIVEN a bundle that defines a CRD and, earlier in the list, a resource of that kind
    const h = harness(kube);
    const ns = uniqueName('crd');
    const group = `${uniqueName('w')}.example.com`;
    const crd: KubeObject = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    };
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1', namespace: ns },
      spec: { colour: 'teal', sizes: [1, 2, 3] },
    };

    // WHEN it is delivered (the agent's RBAC lets it manage CRDs but not widgets)
    const grant = await admin(kube).request(
      'PATCH',
      `/apis/rbac.authorization.k8s.io/v1/clusterroles/widgets-${group}?fieldManager=test-setup&force=true`,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: `widgets-${group}`, labels: { 'sluice.test/extra': 'true' } },
        rules: [
          { apiGroups: [group], resources: ['widgets'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
        ],
      },
      'application/apply-patch+yaml',
    );
    expect(grant.status).toBeLessThan(300);
    await admin(kube).request(
      'PATCH',
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/widgets-${group}?fieldManager=test-setup&force=true`,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `widgets-${group}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `widgets-${group}` },
        subjects: [{ kind: 'User', name: 'sluice-agent', apiGroup: 'rbac.authorization.k8s.io' }],
      },
      'application/apply-patch+yaml',
    );
    const outcome = await h.deliver('widgets', [widget, crd, namespace(ns)], 1);

    // THEN the custom resource is there with every field it was rendered with
    expect(outcome.detailType).toBe('Deployment Succeeded');
    const live = await getObject(kube, `/apis/${group}/v1/namespaces/${ns}/widgets/w1`);
    expect(live?.spec).toEqual({ colour: 'teal', sizes: [1, 2, 3] });
  });

  it('refuses a generation older than the one applied', async () => {
    // GIVEN generation 5 applied
    const h = harness(kube);
    const ns = uniqueName('stale');
    await h.deliver('stale', [namespace(ns), configMap(ns, 'cfg', { v: 'new' })], 5);

    // WHEN generation 4 arrives late
    const late = await h.deliver('stale', [namespace(ns), configMap(ns, 'cfg', { v: 'old' })], 4);

    // THEN it is skipped as stale and the cluster keeps generation 5's data
    expect(late.detailType).toBe('Deployment Skipped');
    expect(late.detail).toMatchObject({ reason: 'stale', appliedGeneration: 5 });
    expect((await getObject(kube, cmPath(ns, 'cfg')))?.data).toEqual({ v: 'new' });
  });
});

describe('KubernetesCluster prune', () => {
  it('prunes an object that left the bundle and leaves an unowned one alone', async () => {
    // GIVEN an app with three ConfigMaps, and a ConfigMap in its namespace that someone else made
    const h = harness(kube);
    const ns = uniqueName('prune');
    await h.deliver('pruner', [namespace(ns), configMap(ns, 'a'), configMap(ns, 'b'), configMap(ns, 'c')], 1);
    await admin(kube).request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(ns, 'handmade'));

    // WHEN the next generation drops ConfigMap c
    const outcome = await h.deliver('pruner', [namespace(ns), configMap(ns, 'a'), configMap(ns, 'b')], 2);

    // THEN c is deleted, the hand-made one stays
    expect(outcome.detail).toMatchObject({ pruned: 1 });
    expect(await getObject(kube, cmPath(ns, 'c'))).toBeUndefined();
    expect(await getObject(kube, cmPath(ns, 'handmade'))).toBeDefined();
    expect(await getObject(kube, cmPath(ns, 'a'))).toBeDefined();
  });

  it('never deletes an object another app or a person took over, even when the inventory lists it', async () => {
    // GIVEN an app's ConfigMap relabelled by hand as another app's
    const h = harness(kube);
    const ns = uniqueName('taken');
    await h.deliver(
      'first',
      [namespace(ns), configMap(ns, 'keep'), configMap(ns, 'shared'), configMap(ns, 'x')],
      1,
    );
    await admin(kube).request(
      'PATCH',
      `${cmPath(ns, 'shared')}?fieldManager=kubectl-label`,
      { metadata: { labels: { 'sluice.dev/app': 'second' } } },
      'application/merge-patch+json',
    );

    // WHEN the app stops shipping it
    const outcome = await h.deliver('first', [namespace(ns), configMap(ns, 'keep'), configMap(ns, 'x')], 2);

    // THEN it is not pruned
    expect(outcome.detail).toMatchObject({ pruned: 0 });
    expect(await getObject(kube, cmPath(ns, 'shared'))).toBeDefined();
  });

  it('stops a prune that would delete more than half of the app, and applies nothing', async () => {
    // GIVEN an app with four ConfigMaps
    const h = harness(kube);
    const ns = uniqueName('guard');
    const all = ['a', 'b', 'c'].map((n) => configMap(ns, n));
    await h.deliver('guarded', [namespace(ns), ...all], 1);

    // WHEN a delivery keeps only the namespace and changes it
    const outcome = await h.deliver(
      'guarded',
      [{ ...namespace(ns), metadata: { name: ns, labels: { x: 'y' } } }],
      2,
    );

    // THEN it fails with the reason, and no object was deleted or changed
    expect(outcome.detailType).toBe('Deployment Failed');
    expect(outcome.detail).toMatchObject({ reason: 'PRUNE_LIMIT' });
    expect((outcome.detail as { message: string }).message).toContain('would prune 3 of its 4 objects');
    for (const n of ['a', 'b', 'c']) expect(await getObject(kube, cmPath(ns, n))).toBeDefined();
    expect((await getObject(kube, `/api/v1/namespaces/${ns}`))?.metadata.labels.x).toBeUndefined();
  });
});

describe('secret references', () => {
  it('puts the secret value in the cluster and nowhere else', async () => {
    // GIVEN a Secret whose value is a reference, resolvable by the agent only
    const h = harness(kube);
    const ns = uniqueName('secret');
    const value = `s3cr3t-${uniqueName('v')}`;
    h.secrets.set('aws-sm://shop/db#password', value);
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: ns },
      type: 'Opaque',
      stringData: { password: 'aws-sm://shop/db#password' },
    };

    // WHEN it is delivered
    const outcome = await h.deliver('secretive', [namespace(ns), secret], 1);

    // THEN the cluster holds the value
    expect(outcome.detailType).toBe('Deployment Succeeded');
    const live = await getObject(kube, `/api/v1/namespaces/${ns}/secrets/db`);
    expect(Buffer.from(live?.data.password, 'base64').toString()).toBe(value);
    // AND neither the bundle, the events nor the inventory ConfigMap do
    const bundle = readFileSync(
      `${h.bundleDir}/${(await h.request('secretive', [namespace(ns), secret], 1)).bundle.key}`,
      'utf8',
    );
    expect(bundle).toContain('aws-sm://shop/db#password');
    expect(bundle).not.toContain(value);
    expect(readFileSync(h.eventsFile, 'utf8')).not.toContain(value);
    const inventory = await getObject(
      kube,
      '/api/v1/namespaces/sluice-system/configmaps/sluice-inventory-secretive',
    );
    expect(JSON.stringify(inventory)).not.toContain(value);
    expect(JSON.stringify(inventory)).not.toContain(Buffer.from(value).toString('base64'));
  });
});

describe('SecretKubeconfigCluster (the Lambda agent)', () => {
  it('reads the kubeconfig from the secret store at run time and re-reads it after its TTL', async () => {
    // GIVEN a kubeconfig held only in the secret store, and a clock the test moves
    const h = harness(kube);
    const ns = uniqueName('lambda');
    const ref = clusterSecretRef('eks-prod');
    h.secrets.set(ref, readFileSync(kube.agentKubeconfig, 'utf8'));
    let now = 0;
    const cluster = new SecretKubeconfigCluster(h.secrets, ref, { ttlMs: 60_000, now: () => now });
    const deps = { ...h.deps, cluster: () => cluster };

    // WHEN an app is applied through it
    const first = await applyRequested(
      deps,
      await h.request('lambda', [namespace(ns), configMap(ns, 'a')], 1),
    );

    // THEN it lands in the cluster
    expect(first.detailType).toBe('Deployment Succeeded');
    expect(await getObject(kube, cmPath(ns, 'a'))).toBeDefined();

    // WHEN the secret is rotated to a revoked token and the TTL passes
    h.secrets.set(ref, readFileSync(kube.agentKubeconfig, 'utf8').replace(kube.agentToken, 'revoked-token'));
    now += 30_000;
    const cached = await applyRequested(
      deps,
      await h.request('lambda', [namespace(ns), configMap(ns, 'b')], 2),
    );
    now += 60_000;
    const rotated = applyRequested(deps, await h.request('lambda', [namespace(ns), configMap(ns, 'c')], 3));

    // THEN the cached credentials serve until the TTL, the new ones after it: refused, and retried later
    expect(cached.detailType).toBe('Deployment Succeeded');
    await expect(rotated).rejects.toMatchObject({ code: 'CLUSTER_UNAUTHORIZED', retryable: true });
    // AND no token reached an event
    expect(readFileSync(h.eventsFile, 'utf8')).not.toContain('revoked-token');
    expect(readFileSync(h.eventsFile, 'utf8')).not.toContain(kube.agentToken);
  });
});

describe('deploy/agent manifests', () => {
  it('are accepted by the API server as written', async () => {
    // GIVEN the install manifests of `sluice agent`
    const files = ['namespace.yaml', 'serviceaccount.yaml', 'rbac.yaml', 'deployment.yaml'];
    const docs = files.flatMap((f) =>
      parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/agent', f), 'utf8')).map(
        (d) => d.toJSON() as KubeObject,
      ),
    );
    // WHEN each is server-side applied as a dry run (the Namespace for real: the others live in it)
    const results: string[] = [];
    for (const doc of docs) {
      const group = doc.apiVersion.includes('/') ? `/apis/${doc.apiVersion}` : `/api/${doc.apiVersion}`;
      const plural = {
        Namespace: 'namespaces',
        ServiceAccount: 'serviceaccounts',
        ClusterRole: 'clusterroles',
        ClusterRoleBinding: 'clusterrolebindings',
        Deployment: 'deployments',
      }[doc.kind];
      const ns = doc.metadata.namespace ? `/namespaces/${doc.metadata.namespace}` : '';
      const dryRun = doc.kind === 'Namespace' ? '' : '&dryRun=All';
      const res = await admin(kube).request(
        'PATCH',
        `${group}${ns}/${plural}/${doc.metadata.name}?fieldManager=install-check&fieldValidation=Strict${dryRun}`,
        doc,
        'application/apply-patch+yaml',
      );
      results.push(`${doc.kind}/${doc.metadata.name}: ${res.status < 300 ? 'ok' : JSON.stringify(res.json)}`);
    }
    // THEN every one is valid, with no unknown or duplicate field
    expect(results).toEqual(docs.map((d) => `${d.kind}/${d.metadata.name}: ok`));
  });
});
