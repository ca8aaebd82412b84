/**
 * latency on the emulator (`where: 'emulator'`): commit-to-Healthy through `sluice dev --aws` — the
 * same handlers on LocalStack's EventBridge, SQS, S3 and Secrets Manager, queues drained in this
 * process — over N sequential pushes to a small repo (one app, two targets in two regions), from
 * the moment the branch moves on the git server to the moment the S3 ledger says both targets are
 * Healthy at that commit. Beside the in-process pipeline (`sluice dev`) on the same repo and the
 * same pushes, measured in the same run; neither has a coalescing window.
 */
import { startAwsFleet } from './lib/aws-fleet.ts';
import { configMap, smallRepo } from './lib/fixtures.ts';
import { allHealthyAt, startFleet, until, writeCommits } from './lib/fleet.ts';
import { percentile } from './lib/load.ts';
import { emit, note } from './lib/report.ts';

const PUSHES = Number(process.env.BENCH_LATENCY_AWS_PUSHES ?? 10);
const TARGETS = 2;
const changes = Array.from({ length: PUSHES }, (_, n) => ({
  files: { 'apps/app-0/configmap.yaml': configMap('app-0', `v${n + 1}`) },
  message: `latency ${n + 1}`,
}));

/** Times each push until `healthy(sha)` holds; one push at a time, each after the last settled. */
const timePushes = async (
  commits: readonly string[],
  push: (sha: string) => Promise<unknown>,
  healthy: (sha: string) => Promise<true | undefined>,
  settle: () => Promise<void> = async () => {},
): Promise<number[]> => {
  const out: number[] = [];
  for (const sha of commits) {
    const started = performance.now();
    await push(sha);
    await until(`Healthy at ${sha.slice(0, 7)}`, () => healthy(sha), 120_000);
    out.push(performance.now() - started);
    await settle();
  }
  return out;
};

const onEmulator = async (): Promise<{ ms: number[]; startMs: number }> => {
  const started = performance.now();
  const fleet = await startAwsFleet(smallRepo(0));
  try {
    const { pipeline } = fleet.dev;
    const seed = await fleet.head();
    await until('seed healthy', () => allHealthyAt(pipeline, 'fleet', seed, TARGETS), 120_000);
    const startMs = performance.now() - started;
    note(`latency (emulator): ${fleet.endpoint}, seed Healthy ${Math.round(startMs)} ms after start`);
    const commits = await writeCommits(fleet.gitDir, seed, changes);
    return {
      ms: await timePushes(commits, fleet.push, (sha) => allHealthyAt(pipeline, 'fleet', sha, TARGETS)),
      startMs,
    };
  } finally {
    await fleet.stop();
  }
};

const inProcess = async (): Promise<number[]> => {
  const fleet = await startFleet({ repos: { r0: smallRepo(0) }, coalesceMs: 0 });
  try {
    const seed = await fleet.head('r0');
    await until('seed healthy', () => allHealthyAt(fleet.pipeline, 'r0', seed, TARGETS));
    await fleet.pipeline.idle();
    const commits = await writeCommits(fleet.gitDir('r0'), seed, changes);
    return await timePushes(
      commits,
      (sha) => fleet.push('r0', sha),
      (sha) => allHealthyAt(fleet.pipeline, 'r0', sha, TARGETS),
      () => fleet.pipeline.idle(),
    );
  } finally {
    await fleet.stop();
  }
};

note(`latency (emulator): ${PUSHES} pushes through sluice dev --aws, the same through sluice dev in process`);
const aws = await onEmulator();
const local = await inProcess();
const common = {
  bench: 'latency' as const,
  where: 'emulator',
  pushes: PUSHES,
  renders: PUSHES,
  releases: PUSHES * TARGETS,
  startToSeedHealthyMs: Math.round(aws.startMs),
};
const comparison = 'the same pushes through the in-process pipeline (sluice dev), no coalescing window';
for (const p of [50, 99]) {
  emit({
    ...common,
    figure: `commit-to-healthy-p${p}`,
    value: percentile(aws.ms, p),
    unit: 'ms',
    comparison,
    comparisonValue: percentile(local, p),
  });
}
