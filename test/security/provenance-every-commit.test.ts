/**
 * Issue 19, `mode: every-commit`: every commit since the one last deployed on a target that
 * touches the app must be signed by an allowed signer, not just the head. Real gpg signatures,
 * the real git server, `sluice dev --trust FILE` in process.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReleaseRejected } from '../../shared/schemas/events.ts';
import { useTrustedDev } from './provenance-support.ts';

describe('commit signatures in every-commit mode (sluice dev --trust)', () => {
  const ctx = useTrustedDev('every-commit');

  const deployed = async (target: string) =>
    (await ctx.t.dev.pipeline.ledger.getDeployment('metrics-agent', target))?.commit;
  const rejected = (commit: string) =>
    ctx.t.events('Release Rejected', commit).map((e) => e.detail as ReleaseRejected);

  it('deploys a signed head when nothing was deployed before', async () => {
    // GIVEN nothing deployed (the unsigned seed was refused) WHEN release-bot pushes a signed change
    const first = await ctx.t.push(await ctx.t.commit('release-bot', 1));
    // THEN only that commit is checked, and it deploys
    expect(rejected(first)).toEqual([]);
    expect(await deployed('prod-use1')).toBe(first);
  });

  it('ignores an unsigned commit in the range that does not touch the app', async () => {
    // GIVEN an unsigned commit outside every app, then a signed change of the metrics-agent
    await mkdir(path.join(ctx.t.clone, 'notes'), { recursive: true });
    await writeFile(path.join(ctx.t.clone, 'notes', 'readme.md'), 'notes\n');
    await ctx.t.git('add', '-A');
    await ctx.t.git('commit', '--quiet', '-m', 'unsigned notes');
    const head = await ctx.t.commit('release-bot', 2);
    // WHEN both are pushed at once
    await ctx.t.push(head);
    // THEN the head deploys: the unsigned commit changed nothing of the app
    expect(rejected(head)).toEqual([]);
    expect(await deployed('prod-use1')).toBe(head);
  });

  it('refuses a signed head whose range holds an unsigned commit touching the app', async () => {
    // GIVEN an unsigned change of the metrics-agent, then a signed one on top
    const unsigned = await ctx.t.commit('none', 3);
    const before = await deployed('prod-use1');
    const head = await ctx.t.commit('release-bot', 4);
    // WHEN both are pushed at once
    await ctx.t.push(head);
    // THEN every target refuses the head, naming the unsigned commit in between
    const refusals = rejected(head);
    expect(refusals.flatMap((r) => r.targets)).toContain('prod-use1');
    expect(refusals[0]).toMatchObject({ reason: 'unsigned', signedCommit: unsigned });
    expect(refusals[0]?.message).toBe(`unsigned commit ${unsigned.slice(0, 7)}`);
    expect(await deployed('prod-use1')).toBe(before);
    expect(
      (await ctx.t.dev.statuses.statuses('local/fleet', head))['sluice/metrics-agent@prod-use1'],
    ).toMatchObject({
      state: 'failure',
    });
  });
});
