/**
 * Issue 19, commit signatures: `sluice dev --trust FILE` deploys a commit to a target only when it
 * carries a valid signature by a signer the target's rule allows. Real signatures by the real
 * tools (gpg, ssh-keygen through `git commit -S`), pushed to the real git server; the refusals are
 * read back through `sluice status`, `sluice trace` and the commit statuses.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeObject } from '../../shared/ports/index.ts';
import type { ReleasePlanned, ReleaseRejected } from '../../shared/schemas/events.ts';
import { useTrustedDev } from './provenance-support.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');
const sluice = async (...args: string[]) =>
  (await run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;

const PROD = ['onprem-fra1', 'prod-euw1', 'prod-use1', 'prod-use1-batch'];
const STAGING = ['staging-euw1', 'staging-use1'];
const ALL = [...PROD, ...STAGING].sort();

interface StatusRow {
  app: string;
  target: string;
  commit?: string;
  state: string;
  newest?: { commit: string; outcome: string; reason?: string };
}

describe('commit signatures at plan time (sluice dev --trust, head mode)', () => {
  const ctx = useTrustedDev('head');

  const workdir = () => path.join(ctx.t.workdir, 'dev');
  const deployedAt = async (commit: string) => {
    const records = await ctx.t.dev.pipeline.ledger.listDeployments();
    return records
      .filter((r) => r.app === 'metrics-agent' && r.commit === commit && r.state === 'Healthy')
      .map((r) => r.target)
      .sort();
  };
  const rejected = (commit: string) =>
    ctx.t.events('Release Rejected', commit).map((e) => e.detail as ReleaseRejected);
  const status = async () =>
    (
      JSON.parse(await sluice('status', '--workdir', workdir(), '--app', 'metrics-agent', '--json')) as {
        deployments: StatusRow[];
      }
    ).deployments;
  const statuses = (commit: string) => ctx.t.dev.statuses.statuses('local/fleet', commit);

  it('refuses the unsigned seed commit everywhere: no trust, no deployment', async () => {
    // GIVEN `sluice dev --trust` started on the example fleet, whose seed commit is not signed
    // THEN nothing was deployed and the plan says why
    expect(await ctx.t.dev.pipeline.ledger.listDeployments()).toEqual([]);
    const skipped = ctx.t
      .events('Release Skipped')
      .map((e) => e.detail as { reason: string; message: string });
    expect(skipped.at(-1)).toMatchObject({ reason: 'untrusted' });
    expect(skipped.at(-1)?.message).toMatch(/unsigned commit/);
  });

  it('deploys a commit signed with gpg by release-bot to every target', async () => {
    // WHEN release-bot signs a change of the metrics-agent (every target) with `git commit -S` (gpg)
    const commit = await ctx.t.push(await ctx.t.commit('release-bot', 1));
    // THEN git itself sees a good signature, and every target is Healthy at that commit
    expect(await ctx.t.git('log', '-1', '--format=%G?', commit)).toBe('G');
    expect(rejected(commit)).toEqual([]);
    expect(await deployedAt(commit)).toEqual(ALL);
    expect((await statuses(commit))['sluice/metrics-agent@prod-use1']?.state).toBe('success');
  });

  it("annotates each applied object with the commit, the bundle digest and release-bot's key", async () => {
    // GIVEN release-bot's signed commit deployed to prod-use1 (the test above)
    const [record] = (await ctx.t.dev.pipeline.ledger.listDeployments()).filter(
      (r) => r.app === 'metrics-agent' && r.target === 'prod-use1',
    );
    const planned = ctx.t.events('Release Planned', record?.commit).at(-1)?.detail as ReleasePlanned;
    // THEN the DaemonSet in the target says which commit, bundle and signer it came from
    const file = path.join(workdir(), 'targets', 'prod-use1', 'monitoring', 'daemonset.metrics-agent.yaml');
    const annotations = (parse(await readFile(file, 'utf8')) as KubeObject).metadata.annotations;
    expect(annotations).toMatchObject({
      'sluice.dev/commit': record?.commit,
      'sluice.dev/bundle-digest': record?.digest,
      'sluice.dev/signed-by': 'release-bot',
      'sluice.dev/signing-key': planned.commitSignature?.fingerprint,
    });
    expect(planned.commitSignature?.fingerprint).toBe(ctx.keys.pgp.fingerprint);
  });

  it('deploys an SSH-signed commit by alice to staging and refuses prod, where alice is not allowed', async () => {
    // WHEN alice signs with her SSH key (gpg.format=ssh)
    const commit = await ctx.t.push(await ctx.t.commit('alice', 2));
    // THEN staging deploys it and every prod target refuses it, naming signer and target
    expect(await deployedAt(commit)).toEqual(STAGING);
    const refusals = rejected(commit);
    expect(refusals.flatMap((r) => r.targets).sort()).toEqual(PROD);
    const useast = refusals.find((r) => r.targets.includes('prod-use1'));
    expect(useast).toMatchObject({ reason: 'signer-not-allowed', signer: 'alice', signedCommit: commit });
    expect(useast?.message).toMatch(/^signer alice not allowed for prod-use1/);
    expect(useast?.fingerprint).toMatch(/^SHA256:/);
    // AND `sluice status` shows the refusal and the reason; prod keeps release-bot's commit
    const rows = await status();
    const prod = rows.find((r) => r.target === 'prod-use1');
    expect(prod?.newest).toMatchObject({ commit, outcome: 'Release Rejected' });
    expect(prod?.newest?.reason).toMatch(/signer-not-allowed: signer alice not allowed for prod-use1/);
    expect(prod?.commit).not.toBe(commit);
    // AND `sluice trace` tells it, with the key's fingerprint
    const trace = await sluice('trace', commit.slice(0, 10), '--workdir', workdir());
    expect(trace).toMatch(/untrusted .*metrics-agent not deployed to .*prod-use1.*signer alice not allowed/);
    expect(trace).toContain(`signer alice key ${useast?.fingerprint}`);
    // AND the commit status fails on prod, names the reason, and succeeds on staging
    const byContext = await statuses(commit);
    expect(byContext['sluice/metrics-agent@prod-use1']).toMatchObject({ state: 'failure' });
    expect(byContext['sluice/metrics-agent@prod-use1']?.description).toMatch(
      /signer alice not allowed for prod-use1/,
    );
    expect(byContext['sluice/metrics-agent@staging-use1']?.state).toBe('success');
  });

  it('refuses a commit signed by an SSH key no signer holds, with its fingerprint', async () => {
    // WHEN mallory, who is not in the trust file, signs with her own SSH key
    const commit = await ctx.t.push(await ctx.t.commit('mallory', 3));
    const fingerprint = (await run('ssh-keygen', ['-lf', `${ctx.keys.ssh.mallory.file}.pub`])).stdout.split(
      ' ',
    )[1];
    // THEN no target deploys it; the reason names the key as ssh-keygen prints it
    expect(await deployedAt(commit)).toEqual([]);
    const refusals = rejected(commit);
    expect(refusals.flatMap((r) => r.targets).sort()).toEqual(ALL);
    expect(refusals[0]).toMatchObject({ reason: 'unknown-signer', fingerprint });
    expect(refusals[0]?.message).toMatch(`unknown signer ${fingerprint}`);
    const row = (await status()).find((r) => r.target === 'staging-use1');
    expect(row?.newest?.reason).toMatch(`unknown-signer: unknown signer ${fingerprint}`);
    expect((await statuses(commit))['sluice/metrics-agent@staging-use1']?.state).toBe('failure');
    expect(await sluice('trace', commit, '--workdir', workdir())).toContain(`unknown signer ${fingerprint}`);
  });

  it('refuses an unsigned commit on every target', async () => {
    const commit = await ctx.t.push(await ctx.t.commit('none', 4));
    expect(await deployedAt(commit)).toEqual([]);
    expect(
      rejected(commit)
        .flatMap((r) => r.targets)
        .sort(),
    ).toEqual(ALL);
    expect(rejected(commit)[0]).toMatchObject({ reason: 'unsigned' });
    expect((await status()).find((r) => r.target === 'prod-euw1')?.newest?.reason).toMatch(
      /^unsigned: unsigned commit/,
    );
    expect((await statuses(commit))['sluice/metrics-agent@prod-euw1']?.description).toMatch(
      /unsigned commit/,
    );
    expect(await sluice('trace', commit, '--workdir', workdir())).toMatch(/untrusted .*unsigned/);
  });

  it('refuses a signature copied onto other content', async () => {
    // GIVEN a commit release-bot signed (never pushed)
    const signed = await ctx.t.commit('release-bot', 5);
    // WHEN its signature is put on a commit object with another tree (the content it never signed)
    await ctx.t.git('reset', '--quiet', '--soft', 'HEAD~1');
    const file = path.join(ctx.t.clone, 'apps/metrics-agent/daemonset.yaml');
    await run('sed', ['-i', 's/privileged: false/privileged: false # swapped/', file]);
    await ctx.t.git('add', '-A');
    const otherTree = await ctx.t.git('write-tree');
    const raw = await ctx.t.git('cat-file', 'commit', signed);
    const forged = raw.replace(/^tree [0-9a-f]{40}$/m, `tree ${otherTree}`);
    expect(forged).toContain('-----BEGIN PGP SIGNATURE-----');
    const { stdout } = await promisify((cb: (error: Error | null, result: { stdout: string }) => void) => {
      const child = execFile(
        'git',
        ['hash-object', '-t', 'commit', '-w', '--stdin'],
        { cwd: ctx.t.clone },
        (error, out) => cb(error, { stdout: out }),
      );
      child.stdin?.end(`${forged}\n`);
    })();
    const tampered = stdout.trim();
    // AND it is pushed
    await ctx.t.push(tampered);
    // THEN git calls the signature bad, and Sluice refuses it everywhere as a bad signature by release-bot
    expect(await ctx.t.git('log', '-1', '--format=%G?', tampered)).toBe('B');
    expect(await deployedAt(tampered)).toEqual([]);
    expect(rejected(tampered)[0]).toMatchObject({
      reason: 'bad-signature',
      signer: 'release-bot',
      fingerprint: ctx.keys.pgp.fingerprint,
    });
    expect((await statuses(tampered))['sluice/metrics-agent@prod-use1']?.state).toBe('failure');
  });
});
