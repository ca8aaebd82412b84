/**
 * scale on the emulator (`where: "emulator"`, run by `npm run bench -- scale` after bench/scale.ts):
 * one commit to N targets (1,000 by default) over 20 regions, 2 overlays, through `sluice dev
 * --aws` — the same handlers on LocalStack's EventBridge, SQS and S3, each queue drained in this
 * process — beside the same commit to 100 targets on the same emulator. Each fleet is deployed
 * once (untimed), then one commit changes every overlay: the clock runs from that push to the
 * last outcome reported, and every target is then checked Healthy at that commit in the S3 ledger.
 * Also the longest dispatch invocation (one handler call on the dispatch queue).
 */
import type { AwsFleet } from './lib/aws-fleet.ts';
import { startAwsFleet } from './lib/aws-fleet.ts';
import { AWS_REGIONS, configMap, fanoutRepo } from './lib/fixtures.ts';
import { allHealthyAt, until, writeCommits } from './lib/fleet.ts';
import { emit, note } from './lib/report.ts';

const TARGETS = Number(process.env.BENCH_SCALE_AWS_TARGETS ?? 1_000);
const BASE = Number(process.env.BENCH_SCALE_AWS_BASE ?? 100);
const REGIONS = Number(process.env.BENCH_SCALE_REGIONS ?? 20);
/** 2 overlays: at 1,000 targets each bundle has 500, so dispatch splits it into 2 chunks of 250. */
const OVERLAYS = Number(process.env.BENCH_SCALE_AWS_OVERLAYS ?? 2);

const onEmulator = async (targets: number) => {
  const invocations = { dispatch: 0, longestDispatchMs: 0, report: 0 };
  let fleet: AwsFleet | undefined;
  try {
    fleet = await startAwsFleet(fanoutRepo(targets, OVERLAYS, AWS_REGIONS.slice(0, REGIONS)), {
      // Its own port: another bench or suite may hold 4566.
      freePort: true,
      host: {
        onInvocation: (fn, ms) => {
          if (fn === 'report') invocations.report += 1;
          if (fn !== 'dispatch') return;
          invocations.dispatch += 1;
          invocations.longestDispatchMs = Math.max(invocations.longestDispatchMs, ms);
        },
      },
    });
    const { pipeline } = fleet.dev;
    const seed = await fleet.head();
    await until('seed Healthy', () => (invocations.report >= targets ? true : undefined), 1_800_000);
    await until('seed Healthy in the ledger', () => allHealthyAt(pipeline, 'fleet', seed, targets), 300_000);
    const [sha] = await writeCommits(fleet.gitDir, seed, [
      {
        files: Object.fromEntries(
          Array.from({ length: OVERLAYS }, (_, i) => [
            `apps/edge/overlays/env${i}/configmap.yaml`,
            configMap('edge', `env${i}-v2`),
          ]),
        ),
        message: 'every overlay',
      },
    ]);
    Object.assign(invocations, { dispatch: 0, longestDispatchMs: 0, report: 0 });
    const started = performance.now();
    await fleet.push(sha!);
    await until('every target reported', () => (invocations.report >= targets ? true : undefined), 1_800_000);
    const healthyMs = performance.now() - started;
    await until(
      'every target Healthy in the ledger',
      () => allHealthyAt(pipeline, 'fleet', sha!, targets),
      300_000,
    );
    return {
      healthyMs: Math.round(healthyMs),
      dispatchInvocations: invocations.dispatch,
      longestDispatchInvocationMs: Math.round(invocations.longestDispatchMs),
    };
  } catch (error) {
    note(
      `scale (emulator): ${targets} targets failed: ${error instanceof Error ? error.stack : String(error)}`,
    );
    throw error;
  } finally {
    await fleet?.stop();
  }
};

note(
  `scale (emulator): one commit to ${BASE}, then ${TARGETS} targets over ${REGIONS} regions, ${OVERLAYS} overlays, through sluice dev --aws`,
);
const base = await onEmulator(BASE);
note(`scale (emulator): ${BASE} targets ${JSON.stringify(base)}`);
const full = await onEmulator(TARGETS);
note(`scale (emulator): ${TARGETS} targets ${JSON.stringify(full)}`);
emit({
  bench: 'scale',
  where: 'emulator',
  figure: 'per-target-time-to-healthy',
  value: full.healthyMs / TARGETS,
  unit: 'ms per target',
  comparison: `same commit to ${BASE} targets on the same emulator`,
  comparisonValue: base.healthyMs / BASE,
  goal: 1.5,
  targets: TARGETS,
  regions: REGIONS,
  overlays: OVERLAYS,
  healthyMs: full.healthyMs,
  dispatchInvocations: full.dispatchInvocations,
  longestDispatchInvocationMs: full.longestDispatchInvocationMs,
  comparisonLongestDispatchInvocationMs: base.longestDispatchInvocationMs,
});
