/**
 * Issue 11, item 6: generations are ordered per (repo, app, target). Two configured repos with an
 * app of the same name on one target get separate ledger records; neither's generation can make
 * the other's release look stale, and the second is never applied over (or prunes) the first.
 * The in-process pipeline with the real git server, the real ingest HTTP server, directory targets.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPipeline, startLocalPipeline } from '../../cli/runtime/local-pipeline.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import {
  type GitServer,
  initBareRepo,
  startGitServer,
  ZERO_SHA,
} from '../../shared/adapters/local/git-server.ts';
import { type IngestServer, startIngestServer } from '../../shared/adapters/local/ingest-server.ts';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { ingestWebhook } from '../../shared/core/ingest.ts';
import { repoCatalog } from '../../shared/core/repos.ts';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import { git, tempDir, waitFor } from '../support/dev-harness.ts';

const SECRET = 'two-repos-secret';

/** A fleet with one app, `web`, on the one target `dev`, in its own namespace. */
const seedFleet = async (dir: string, namespace: string) => {
  const files: Record<string, string> = {
    'sluice.yaml': `apiVersion: sluice.dev/v1
kind: Fleet
targets: [{ name: dev, cloud: other, region: local, labels: { env: dev }, cluster: { kind: directory } }]
apps:
  - { name: web, path: apps/web, kind: directory, namespace: ${namespace}, targets: {} }
`,
    'apps/web/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\ndata: { from: ${namespace}-0 }\n`,
  };
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
};

describe('two repos with a same-named app on one target', () => {
  let work: string;
  let server: GitServer;
  let ingest: IngestServer;
  let pipeline: LocalPipeline;
  const clones: Record<string, string> = {};

  beforeAll(async () => {
    work = await tempDir('two-repos');
    for (const name of ['a', 'b']) {
      const seed = path.join(work, `seed-${name}`);
      await seedFleet(seed, `team-${name}`);
      await initBareRepo(path.join(work, 'git'), name, seed);
    }
    server = await startGitServer({ root: path.join(work, 'git') });
    const repos = repoCatalog(
      ['a', 'b'].map((name) => ({ name: `local/${name}`, url: `${server.url}/${name}.git` })),
    );
    pipeline = startLocalPipeline({
      workdir: path.join(work, 'sluice'),
      git: createGitSource({ cacheDir: path.join(work, 'cache') }),
      secrets: new MemorySecretStore(),
      coalesceMs: 50,
      repos,
    });
    ingest = await startIngestServer({
      ingest: (request) =>
        ingestWebhook(
          { ...pipeline.pipeline.ingestDeps(), webhookSecrets: async () => [SECRET], repos },
          request,
        ),
    });
    for (const name of ['a', 'b']) {
      clones[name] = path.join(work, `clone-${name}`);
      await git(work, 'clone', '--quiet', `${server.url}/${name}.git`, clones[name]!);
    }
  });
  afterAll(async () => {
    await pipeline?.stop();
    await ingest?.close();
    await server?.close();
  });

  /** Commits `from: <value>` in the repo's clone, pushes it, and sends the push webhook; returns the commit. */
  const push = async (name: string, value: string): Promise<string> => {
    const clone = clones[name]!;
    const before = await git(clone, 'rev-parse', 'HEAD');
    const file = path.join(clone, 'apps/web/cm.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/from: [\w-]+/, `from: ${value}`));
    await git(clone, 'commit', '--quiet', '-am', value);
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    const after = await git(clone, 'rev-parse', 'HEAD');
    const payload = githubPushPayload({
      repo: `local/${name}`,
      cloneUrl: `${server.url}/${name}.git`,
      ref: 'refs/heads/main',
      before: before === after ? ZERO_SHA : before,
      after,
    });
    const answer = await sendWebhook({
      url: `${ingest.url}/webhooks/github`,
      secret: SECRET,
      event: 'push',
      payload,
    });
    expect(answer.status).toBe(202);
    return after;
  };
  const record = (repo: string) => pipeline.ledger.getDeployment('web', 'dev', repo);
  const settled = (repo: string, commit: string) =>
    waitFor(`local/${repo} web@dev settled at ${commit.slice(0, 7)}`, async () => {
      const r = await record(`local/${repo}`);
      return r?.commit === commit && (r.state === 'Healthy' || r.state === 'Failed') ? r : undefined;
    });

  it('keeps separate ledger records, and neither repo shadows the other', async () => {
    // GIVEN repo a deployed three times: its generation is 3
    // (each waited for, so none is coalesced into the next)
    let aRecord: DeploymentRecord | undefined;
    for (const n of [1, 2, 3]) aRecord = await settled('a', await push('a', `team-a-${n}`));
    const a = aRecord?.commit ?? '';
    expect(aRecord).toMatchObject({ state: 'Healthy', generation: 3 });

    // WHEN repo b releases its own `web` (its first generation) to the same target
    const b = await push('b', 'team-b-1');
    const bRecord = await settled('b', b);

    // THEN b has its own ledger record: its generation 1 was not dropped as older than a's 3 ...
    expect(bRecord).toMatchObject({ repo: 'local/b', generation: 1 });
    // ... and the agent refused to apply it over a's app, naming both repos and the fix
    expect(bRecord.state).toBe('Failed');
    expect(bRecord.reason).toMatch(
      /APP_OWNED_BY_OTHER_REPO: app "web" on target dev is deployed from "local\/a"; the release from "local\/b" was refused.*Fix: /,
    );
    expect(await record('local/a')).toMatchObject({ commit: a, state: 'Healthy', generation: 3 });
    const target = pipeline.targetDir('dev');
    expect(await readdir(target)).not.toContain('team-b');
    expect(await readFile(path.join(target, 'team-a', 'configmap.web.yaml'), 'utf8')).toContain('team-a-3');

    // WHEN repo a pushes again THEN it deploys as usual: b's release shadows nothing
    const next = await push('a', 'team-a-4');
    expect(await settled('a', next)).toMatchObject({ state: 'Healthy', generation: 4 });
    expect(await readFile(path.join(target, 'team-a', 'configmap.web.yaml'), 'utf8')).toContain('team-a-4');
    expect((await pipeline.ledger.listDeployments()).map((r) => `${r.repo}:${r.app}@${r.target}`)).toEqual([
      'local/a:web@dev',
      'local/b:web@dev',
    ]);
  });
});
