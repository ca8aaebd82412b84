/**
 * apps[].dependsOn in `sluice dev` (docs/progressive-delivery.md#ordering-between-apps-dependson):
 * two apps released by one commit, `app` depending on `crds`; on each target `app`'s bundle is
 * handed to the agent only after `crds` reported Healthy there, over a real git server and
 * directory targets.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApplyRequested, DeploymentSucceeded, Envelope } from '../../shared/schemas/events.ts';
import { startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

const STAGING = ['staging-euw1', 'staging-use1'];

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: { kind: Widget, plural: widgets, singular: widget }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`;

const CONFIGMAP = (value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-settings
data:
  widget: "${value}"
`;

/** sluice.yaml with the two apps on the staging targets, `app` depending on `crds`. */
const withApps = async (clone: string): Promise<string> => {
  const text = await readFile(path.join(clone, 'sluice.yaml'), 'utf8');
  // app first: without dependsOn it would render and reach its agents before crds.
  const apps = [
    '  - name: app',
    '    path: apps/app',
    '    namespace: app',
    '    dependsOn: [crds]',
    '    targets:',
    '      matchLabels: { env: staging }',
    '  - name: crds',
    '    path: apps/crds',
    '    namespace: crds',
    '    targets:',
    '      matchLabels: { env: staging }',
    '',
  ].join('\n');
  return text.replace('\npolicies:', `${apps}\npolicies:`);
};

/** When each target saw `crds` Healthy and `app` handed to its agent, at this commit (event log order). */
const order = (events: readonly Envelope[], sha: string, target: string) => {
  const index = (match: (e: Envelope) => boolean) => events.findIndex(match);
  return {
    crdsHealthy: index(
      (e) =>
        e['detail-type'] === 'Deployment Succeeded' &&
        (e.detail as DeploymentSucceeded).app === 'crds' &&
        (e.detail as DeploymentSucceeded).target === target &&
        (e.detail as DeploymentSucceeded).commit === sha,
    ),
    appRequested: index(
      (e) =>
        e['detail-type'] === 'Apply Requested' &&
        (e.detail as ApplyRequested).app === 'app' &&
        (e.detail as ApplyRequested).target.name === target &&
        (e.detail as ApplyRequested).commit === sha,
    ),
  };
};

describe('dependsOn between apps in sluice dev', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Waits until `app`'s ledger record on every staging target is `state` at `sha`. */
  const onEveryStagingTarget = (app: string, sha: string, state: 'Healthy' | 'Failed') =>
    waitFor(
      `${app} ${state} on staging at ${sha.slice(0, 7)}`,
      async () => {
        const records = (await t.dev.pipeline.ledger.listDeployments()).filter(
          (r) => r.app === app && r.commit === sha && r.state === state,
        );
        return records.length === STAGING.length ? records : undefined;
      },
      30_000,
    );

  it('applies the dependent on each target only after its dependency is Healthy there', async () => {
    // GIVEN one commit adding crds and app, app dependsOn crds
    const sha = await t.push(
      {
        'sluice.yaml': await withApps(t.clone),
        'apps/crds/widgets.yaml': CRD,
        'apps/app/settings.yaml': CONFIGMAP('v1'),
      },
      'crds and app, app after crds',
    );

    // THEN both become Healthy on every staging target
    await waitFor(
      'crds and app Healthy on staging',
      async () => {
        const records = (await t.dev.pipeline.ledger.listDeployments()).filter(
          (r) => (r.app === 'crds' || r.app === 'app') && r.commit === sha && r.state === 'Healthy',
        );
        return records.length === STAGING.length * 2 ? records : undefined;
      },
      30_000,
    );
    // AND on each target, app went to the agent only after crds reported Healthy there
    for (const target of STAGING) {
      const { crdsHealthy, appRequested } = order(t.events(), sha, target);
      expect(crdsHealthy, `crds Healthy on ${target}`).toBeGreaterThanOrEqual(0);
      expect(appRequested, `app applied on ${target} after crds`).toBeGreaterThan(crdsHealthy);
    }
  });

  it('a change of the dependent alone waits for nothing: its dependency is already Healthy', async () => {
    const sha = await t.push({ 'apps/app/settings.yaml': CONFIGMAP('v2') }, 'app v2 alone');
    await onEveryStagingTarget('app', sha, 'Healthy');
  });

  it('reports the dependent blocked, not waiting forever, when its dependency fails to render', async () => {
    // GIVEN one commit that breaks crds (its YAML does not parse) and changes app, which depends on it
    const sha = await t.push(
      { 'apps/crds/widgets.yaml': 'apiVersion: [unclosed\n', 'apps/app/settings.yaml': CONFIGMAP('v3') },
      'broken crds, app v3',
    );

    // THEN app is not applied at that commit on any staging target: each is Failed, saying why
    const blocked = await onEveryStagingTarget('app', sha, 'Failed');
    for (const r of blocked)
      expect(r.reason).toMatch(/waiting on crds which failed on staging-.*render failed/);
    // AND no Apply Requested of app at that commit reached an agent
    expect(
      t
        .events()
        .filter((e) => e['detail-type'] === 'Apply Requested' && (e.detail as ApplyRequested).commit === sha)
        .map((e) => (e.detail as ApplyRequested).app),
    ).not.toContain('app');
  });
});
