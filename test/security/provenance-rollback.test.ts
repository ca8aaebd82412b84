/**
 * Issue 19: the revert commit that rollback writes is signed with Sluice's own key, and a trust
 * policy that names that key (`sluice: true`) lets the revert deploy where its rule allows it.
 * `sluice dev --trust FILE` in process, real gpg signatures on the releases, an alarm, and git
 * itself (`ssh-keygen` through `git log %G?`) checking the revert's signature.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceCommit } from '../../cli/commands/trace.ts';
import { describeEvent } from '../../cli/progress.ts';
import { createCommitVerifier } from '../../shared/adapters/git/commit-signatures.ts';
import { localCommitSigner } from '../../shared/adapters/git/commit-signing.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import type { ReleaseRejected } from '../../shared/schemas/events.ts';
import { waitFor } from '../support/dev-harness.ts';
import {
  dropKeys,
  makeKeys,
  type SigningKeys,
  startTrustedDev,
  type TrustedDev,
  trustYaml,
} from './provenance-support.ts';

const API_DEPLOYMENT = 'apps/api/base/deployment.yaml';
const PROD = ['onprem-fra1', 'prod-euw1', 'prod-use1'];
const STAGING = ['staging-euw1', 'staging-use1'];

/** The policy of the other tests, plus Sluice's own key, allowed for prod only. */
const withSluice = (keys: SigningKeys) =>
  trustYaml(keys, 'head')
    .replace('signers:\n', 'signers:\n  - name: sluice\n    sluice: true\n')
    .replace('    signers: [release-bot]\n', '    signers: [release-bot, sluice]\n');

describe('rollback reverts signed by Sluice under a trust policy (sluice dev --trust)', () => {
  let keys: SigningKeys;
  let t: TrustedDev;
  beforeAll(async () => {
    keys = await makeKeys();
    t = await startTrustedDev(keys, 'head', withSluice(keys));
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await dropKeys(keys);
  });

  const apiAt = async (commit: string, state = 'Healthy') =>
    (await t.dev.pipeline.ledger.listDeployments())
      .filter((r) => r.app === 'api' && r.commit === commit && r.state === state)
      .map((r) => r.target)
      .sort();
  /** An api change signed by release-bot with gpg, pushed and Healthy everywhere. */
  const release = async (probe: string) => {
    const file = path.join(t.clone, API_DEPLOYMENT);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/httpGet: \{ path: [^,]+,/, `httpGet: { path: ${probe},`));
    await t.git('add', '-A');
    await t.git(
      '-c',
      'gpg.format=openpgp',
      '-c',
      `user.signingkey=${keys.pgp.fingerprint}`,
      'commit',
      '--quiet',
      '-S',
      '-m',
      `api ${probe}`,
    );
    const commit = await t.push();
    await waitFor(`api Healthy at ${commit.slice(0, 7)}`, async () =>
      (await apiAt(commit)).length === PROD.length + STAGING.length ? true : undefined,
    );
    return commit;
  };

  it('signs the revert with its own key: it deploys where the policy names Sluice, and is refused elsewhere', async () => {
    // GIVEN a good and then a bad api release, both signed by release-bot
    await release('/healthz-good');
    const bad = await release('/broken');
    // `sluice trace` attributes the release: who signed the commit, which key signed the bundle,
    // and which agent verified it
    const story = traceCommit(t.dev.pipeline.bus.events, bad).flatMap(describeEvent).join('\n');
    expect(story).toContain(`commit signed by release-bot (key ${keys.pgp.fingerprint})`);
    expect(story).toMatch(/dispatch .* api → prod-use1 .*, bundle signed by key \S+/);
    expect(story).toMatch(/bundle signature by key \S+ verified by the agent on prod-use1/);
    // WHEN the mapped alarm fires in the bake window
    await t.dev.pipeline.bus.publishRaw(
      cloudWatchAlarmEvent({
        id: randomUUID(),
        name: 'api-5xx-rate-high',
        at: new Date(),
        state: 'ALARM',
        region: 'us-east-1',
        account: '111111111111',
      }),
    );
    // THEN rollback pushes a revert commit, and its plan is decided by the trust policy
    const revert = await waitFor(
      'the revert commit',
      () =>
        (
          t.events('Revert Committed').find((e) => (e.detail as { commit: string }).commit === bad)?.detail as
            | { revertCommit?: string }
            | undefined
        )?.revertCommit,
    );
    await waitFor('the revert to be planned', () =>
      t.events('Release Planned', revert).length + t.events('Release Rejected', revert).length > 0
        ? true
        : undefined,
    );
    await t.dev.pipeline.idle();
    await t.git('fetch', '--quiet', 'origin', 'main');
    // git and ssh-keygen themselves find a good signature by Sluice's key (workdir state)
    const pub = (await readFile(path.join(t.workdir, 'dev', 'state', 'commit-signing.pub'), 'utf8')).trim();
    const allowed = path.join(t.workdir, 'allowed_signers');
    await writeFile(allowed, `sluice@localhost ${pub}\n`);
    expect(
      await t.git('-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'log', '-1', '--format=%G?', revert),
    ).toBe('G');
    // prod, where the rule names sluice, deploys the revert; staging refuses it, naming the signer
    expect(await apiAt(revert, 'RolledBack')).toEqual(PROD);
    const refused = t.events('Release Rejected', revert).map((e) => e.detail as ReleaseRejected);
    expect(refused.flatMap((r) => r.targets).sort()).toEqual(STAGING);
    expect(refused[0]).toMatchObject({ reason: 'signer-not-allowed', signer: 'sluice' });
    expect(
      t.events('Release Rejected', revert).some((e) => JSON.stringify(e.detail).includes('unsigned')),
    ).toBe(false);

    // AND a policy whose `sluice` signer is another Sluice's key finds the revert's key unknown
    const stranger = await localCommitSigner(path.join(t.workdir, 'other-sluice'));
    const verifier = await createCommitVerifier({
      objects: {
        withCommits: (_url, _branch, _commits, read) =>
          read({ fs, gitdir: path.join(t.clone, '.git'), cache: {} }),
      },
      signers: [{ name: 'sluice', sluice: true }],
      file: 'trust.yaml',
      ownKey: stranger.publicKey,
    });
    const signature = await verifier.verify('unused', 'main', revert);
    expect(signature.status).toBe('unknown-signer');
    expect(signature).toMatchObject({
      fingerprint: (await localCommitSigner(path.join(t.workdir, 'dev', 'state'))).fingerprint,
    });
  }, 120_000);

  it("refuses to start a policy naming Sluice's key where the pipeline holds none, naming the field", async () => {
    // GIVEN a policy with `sluice: true` WHEN a verifier without a commit-signing key is built
    const build = createCommitVerifier({
      objects: { withCommits: async () => undefined },
      signers: [{ name: 'sluice', sluice: true }],
      file: 'trust.yaml',
    });
    // THEN it fails naming the file, the field and the fix
    await expect(build).rejects.toThrow(
      /trust\.yaml at signers\[0\]\.sluice: .*Fix: give the signer the "ssh:" line/,
    );
  });
});
