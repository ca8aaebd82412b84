import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { planCommit } from '../../shared/core/plan.ts';
import type { GitSource } from '../../shared/ports/index.ts';
import type { CommitPushed } from '../../shared/schemas/events.ts';
import { tempDir } from '../support/dev-harness.ts';

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);

const files: Record<string, string> = {
  'sluice.yaml': `apiVersion: sluice.dev/v1
kind: Fleet
targets: [{ name: dev, cloud: other, region: local, labels: { env: dev }, cluster: { kind: directory } }]
apps:
  - { name: shop, path: apps/shop, kind: kustomize, base: overlays/dev, targets: {} }
  - { name: blog, path: apps/blog, kind: directory, targets: {} }
  - { name: api, path: apps/api, kind: kustomize, targets: {} }
`,
  'apps/shop/overlays/dev/kustomization.yaml': 'resources: [../../../../bases/web]\n',
  'bases/web/kustomization.yaml': 'resources: [deploy.yaml]\n',
  'bases/web/deploy.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\n',
  'apps/blog/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: blog }\n',
  'apps/api/kustomization.yaml': 'resources: [cm.yaml]\n',
  'apps/api/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: api }\n',
  'docs/readme.md': 'hello\n',
};

const plan = async (changed: string[]) => {
  const dir = await tempDir('plan-inputs');
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  const git: GitSource = {
    head: async () => NEW,
    checkout: async (_url, _branch, commit) => createDirectoryTree(dir, commit),
    changedPaths: async () => changed,
    isAncestor: async () => false,
  };
  const ledger = new FileLedger();
  await ledger.putBranch(
    {
      repo: 'acme/fleet',
      branch: 'main',
      lastPlanned: OLD,
      generation: 1,
      plannedAt: new Date().toISOString(),
    },
    0,
  );
  const push: CommitPushed = {
    schemaVersion: 1,
    traceId: 'trace-plan-inputs',
    repo: 'acme/fleet',
    branch: 'main',
    commit: NEW,
    occurredAt: new Date().toISOString(),
    deliveryId: 'd1',
    provider: 'github',
    repoUrl: 'http://127.0.0.1/fleet.git',
    ref: 'refs/heads/main',
    before: OLD,
    forced: false,
    deleted: false,
    receivedAt: new Date().toISOString(),
  };
  const outcome = await planCommit({ git, ledger, bus: new LocalEventBus(), clock: systemClock }, push);
  return outcome.kind === 'planned' ? outcome.event.releases.map((r) => r.spec.app) : [];
};

describe('planCommit: apps that read outside their path', () => {
  it('replans a kustomize overlay whose base outside the app changed', async () => {
    // GIVEN shop's overlay builds bases/web, outside apps/shop
    // WHEN a commit changes only bases/web/deploy.yaml
    // THEN shop is planned, and the apps that do not read it are not
    expect(await plan(['bases/web/deploy.yaml'])).toEqual(['shop']);
  });

  it('plans nothing for a change no app reads', async () => {
    // GIVEN the same repo WHEN only docs/readme.md changes THEN no app is planned
    expect(await plan(['docs/readme.md'])).toEqual([]);
  });

  it('still plans by path alone when every change is inside an app', async () => {
    // GIVEN a change inside apps/api WHEN planned THEN api alone is released
    expect(await plan(['apps/api/cm.yaml'])).toEqual(['api']);
  });
});
