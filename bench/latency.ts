/**
 * latency: commit-to-Healthy in process, over N sequential pushes to a small repo (two targets in
 * two regions): from the moment the branch moves on the git server to the moment the ledger says
 * both targets are Healthy at that commit. Sluice without a coalescing window, beside the same
 * pipeline with `sluice dev`'s default window (1.5 s), measured in the same run.
 */
import { configMap, smallRepo } from './lib/fixtures.ts';
import { allHealthyAt, startFleet, until, writeCommits } from './lib/fleet.ts';
import { percentile } from './lib/load.ts';
import { emit, note } from './lib/report.ts';

const PUSHES = Number(process.env.BENCH_LATENCY_PUSHES ?? 40);

const latencies = async (coalesceMs: number, pushes: number): Promise<number[]> => {
  const fleet = await startFleet({ repos: { r0: smallRepo(0) }, coalesceMs });
  await until('seed healthy', async () => allHealthyAt(fleet.pipeline, 'r0', await fleet.head('r0'), 2));
  await fleet.pipeline.idle();
  const commits = await writeCommits(
    fleet.gitDir('r0'),
    await fleet.head('r0'),
    Array.from({ length: pushes }, (_, n) => ({
      files: { 'apps/app-0/configmap.yaml': configMap('app-0', `v${n + 1}`) },
      message: `latency ${n + 1}`,
    })),
  );
  const out: number[] = [];
  for (const sha of commits) {
    const started = performance.now();
    await fleet.push('r0', sha);
    await until('Healthy', () => allHealthyAt(fleet.pipeline, 'r0', sha, 2));
    out.push(performance.now() - started);
    await fleet.pipeline.idle();
  }
  await fleet.stop();
  return out;
};

note(`latency: ${PUSHES} pushes without a coalescing window, ${Math.ceil(PUSHES / 4)} with 1500 ms`);
const fast = await latencies(0, PUSHES);
const windowed = await latencies(1500, Math.ceil(PUSHES / 4));
const common = { bench: 'latency' as const, pushes: PUSHES, renders: PUSHES, releases: PUSHES * 2 };
const comparison = 'same pipeline with the sluice dev coalescing window (1500 ms)';
emit({
  ...common,
  figure: 'commit-to-healthy-p50',
  value: percentile(fast, 50),
  unit: 'ms',
  comparison,
  comparisonValue: percentile(windowed, 50),
});
emit({
  ...common,
  figure: 'commit-to-healthy-p99',
  value: percentile(fast, 99),
  unit: 'ms',
  comparison,
  comparisonValue: percentile(windowed, 99),
});
