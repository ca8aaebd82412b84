import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordingGitProvider, type StatusEntry } from '../../shared/adapters/local/status-recorder.ts';
import { decodeBundle } from '../../shared/core/bundle.ts';
import { renderRelease } from '../../shared/core/release.ts';
import type {
  BundleVerified,
  OutboundEvent,
  ReleasePlanned,
  RenderSpec,
} from '../../shared/schemas/events.ts';
import { inProcess, memoryGit, sha, target } from './core-fixtures.ts';

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${name}\ndata:\n  title: "${value}"\n`;
const latestPod =
  'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: api\nspec:\n  containers:\n    - name: c\n      image: acme/api:latest\n      resources: { limits: { cpu: 100m, memory: 64Mi }, requests: { cpu: 100m, memory: 64Mi } }\n';

const spec = (app: string): RenderSpec => ({
  app,
  path: `apps/${app}`,
  values: {},
  disabledPolicies: [],
  sync: { prune: true, selfHeal: false },
});

const plan = (generation: number, commit: string, apps: string[]): ReleasePlanned => ({
  schemaVersion: 1,
  traceId: `trace-${generation.toString().padStart(4, '0')}`,
  repo: 'acme/fleet',
  branch: 'main',
  commit,
  occurredAt: '2026-01-01T00:00:00.000Z',
  repoUrl: 'http://127.0.0.1:1/fleet.git',
  generation,
  previousCommit: null,
  changedPaths: 1,
  releases: apps.map((app) => ({ spec: spec(app), targets: [target('a'), target('b')] })),
});

const verifiedOf = (events: OutboundEvent[]): BundleVerified => {
  const event = events.find((e) => e.detailType === 'Bundle Verified');
  if (!event) throw new Error(`no Bundle Verified among ${events.map((e) => e.detailType).join(', ')}`);
  return event.detail as BundleVerified;
};

const setup = async (commits: Record<string, Record<string, string>>) => {
  const env = await inProcess();
  const statuses: StatusEntry[] = [];
  const provider = new RecordingGitProvider(
    join(await mkdtemp(join(tmpdir(), 'sluice-release-')), 's.json'),
    {
      onStatus: (entry) => statuses.push(entry),
    },
  );
  return { ...env, statuses, deps: { ...env, git: memoryGit(commits), provider } };
};

describe('renderRelease', () => {
  it('renders each app once for all its targets and stores a bundle whose digest round-trips', async () => {
    // GIVEN a commit with one app planned for two targets
    const { deps, bundles } = await setup({ [sha(1)]: { 'apps/web/cm.yaml': configMap('web', 'Hello') } });

    // WHEN the plan is rendered
    const events = await renderRelease(deps, plan(1, sha(1), ['web']));

    // THEN one Bundle Verified names both targets, and the stored bundle reads back by its digest
    expect(events.map((e) => e.detailType)).toEqual(['Bundle Verified']);
    const verified = verifiedOf(events);
    expect(verified.targets.map((t) => t.name)).toEqual(['a', 'b']);
    const bundle = decodeBundle(await bundles.get(verified.bundle));
    expect(bundle.objects.map((o) => `${o.file}: ${o.object.kind}/${o.object.metadata.name}`)).toEqual([
      'apps/web/cm.yaml: ConfigMap/web',
    ]);
  });

  it('gives the same digest when the same plan is delivered twice', async () => {
    // GIVEN a plan rendered once
    const { deps } = await setup({ [sha(1)]: { 'apps/web/cm.yaml': configMap('web', 'Hello') } });
    const first = await renderRelease(deps, plan(1, sha(1), ['web']));

    // WHEN the same message is delivered again THEN the bundle is the same content-addressed object
    const second = await renderRelease(deps, plan(1, sha(1), ['web']));
    expect(verifiedOf(second).bundle).toEqual(verifiedOf(first).bundle);
  });

  it('drops a plan that a newer plan of another commit overtook, before rendering anything', async () => {
    // GIVEN the branch already planned generation 3 at commit 3
    const { deps, ledger, statuses } = await setup({
      [sha(1)]: { 'apps/web/cm.yaml': configMap('web', 'x') },
    });
    await ledger.putBranch(
      {
        repo: 'acme/fleet',
        branch: 'main',
        lastPlanned: sha(3),
        generation: 3,
        plannedAt: '2026-01-01T00:00:00Z',
      },
      0,
    );

    // WHEN generation 1's plan arrives
    const events = await renderRelease(deps, plan(1, sha(1), ['web']));

    // THEN it is skipped as superseded by commit 3, and its commit statuses say so
    expect(events).toEqual([
      expect.objectContaining({
        detailType: 'Release Skipped',
        detail: expect.objectContaining({ reason: 'superseded', supersededBy: sha(3) }),
      }),
    ]);
    expect(statuses.map((s) => [s.commit, s.context, s.state])).toEqual([
      [sha(1), 'sluice/web@a', 'error'],
      [sha(1), 'sluice/web@b', 'error'],
    ]);
  });

  it("still renders a plan whose commit a rollback's newer generation kept as the branch's last planned", async () => {
    // GIVEN a rollback took generation 2 but left lastPlanned at commit 1
    const { deps, ledger } = await setup({ [sha(1)]: { 'apps/web/cm.yaml': configMap('web', 'x') } });
    await ledger.putBranch(
      {
        repo: 'acme/fleet',
        branch: 'main',
        lastPlanned: sha(1),
        generation: 2,
        plannedAt: '2026-01-01T00:00:00Z',
      },
      0,
    );

    // WHEN generation 1's plan of commit 1 is rendered THEN it is not dropped
    const events = await renderRelease(deps, plan(1, sha(1), ['web']));
    expect(events.map((e) => e.detailType)).toEqual(['Bundle Verified']);
  });

  it('rejects an app that breaks a policy and stores nothing for it, while the other app goes on', async () => {
    // GIVEN a commit where api runs a :latest image and web is clean
    const { deps, statuses } = await setup({
      [sha(1)]: { 'apps/api/pod.yaml': latestPod, 'apps/web/cm.yaml': configMap('web', 'x') },
    });

    // WHEN the plan is rendered
    const events = await renderRelease(deps, plan(1, sha(1), ['api', 'web']));

    // THEN api is Policy Rejected naming no-latest-tag, web is verified, and api's statuses fail
    expect(events.map((e) => [e.detailType, (e.detail as { app: string }).app])).toEqual([
      ['Policy Rejected', 'api'],
      ['Bundle Verified', 'web'],
    ]);
    expect(JSON.stringify(events[0]?.detail)).toContain('no-latest-tag');
    expect(statuses.filter((s) => s.context.startsWith('sluice/api@')).map((s) => s.state)).toEqual([
      'failure',
      'failure',
    ]);
  });

  it('reports an app whose manifests do not render as Render Failed, naming the file, and renders the rest', async () => {
    // GIVEN a commit where api's YAML is broken
    const { deps } = await setup({
      [sha(1)]: { 'apps/api/broken.yaml': 'kind: [unclosed\n', 'apps/web/cm.yaml': configMap('web', 'x') },
    });

    // WHEN the plan is rendered
    const events = await renderRelease(deps, plan(1, sha(1), ['api', 'web']));

    // THEN api failed with a message naming its file, and web was still verified
    expect(events.map((e) => e.detailType)).toEqual(['Render Failed', 'Bundle Verified']);
    expect(JSON.stringify(events[0]?.detail)).toContain('apps/api/broken.yaml');
  });
});
