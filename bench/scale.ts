/**
 * scale: one commit to 10,000 targets over 20 regions (10 overlays: 10 renders), in process,
 * beside the same commit to 100 targets in the same run. The figure is the per-target cost of
 * getting every target Healthy (push to the last Deployment Succeeded, divided by the targets);
 * flat means within 1.5× from 100 to 10,000. Also reported: renders, and the longest dispatch of
 * one bundle (Bundle Verified to that bundle's last Apply Requested: the work one dispatch
 * invocation does, which must stay well inside a Lambda's timeout).
 */
import type { Envelope } from '../shared/schemas/events.ts';
import { AWS_REGIONS, fanoutRepo } from './lib/fixtures.ts';
import { allHealthyAt, startFleet, until } from './lib/fleet.ts';
import { emit, note } from './lib/report.ts';

const TARGETS = Number(process.env.BENCH_SCALE_TARGETS ?? 10_000);
const BASE = Number(process.env.BENCH_SCALE_BASE ?? 100);
const REGIONS = Number(process.env.BENCH_SCALE_REGIONS ?? 20);
const OVERLAYS = 10;

const at = (e: Envelope | undefined) => (e ? Date.parse(e.time) : Number.NaN);

const scale = async (targets: number) => {
  const started = performance.now();
  const fleet = await startFleet({
    repos: { edge: fanoutRepo(targets, OVERLAYS, AWS_REGIONS.slice(0, REGIONS)) },
  });
  const sha = await fleet.head('edge');
  await until('every target Healthy', () => allHealthyAt(fleet.pipeline, 'edge', sha, targets), 3_600_000);
  await fleet.pipeline.idle({ timeoutMs: 600_000 });
  const events = fleet.events();
  const of = (type: string) => events.filter((e) => e['detail-type'] === type);
  const pushed = at(of('Commit Pushed')[0]);
  const applies = of('Apply Requested');
  const longestDispatchMs = Math.max(
    ...of('Bundle Verified').map((verified) => {
      const digest = (verified.detail as { bundle: { digest: string } }).bundle.digest;
      const last = applies
        .filter((a) => (a.detail as { bundle: { digest: string } }).bundle.digest === digest)
        .at(-1);
      return at(last) - at(verified);
    }),
  );
  const result = {
    renders: of('Bundle Verified').length,
    releases: of('Deployment Succeeded').length,
    healthyMs: at(of('Deployment Succeeded').at(-1)) - pushed,
    dispatchMs: at(applies.at(-1)) - pushed,
    longestDispatchMs,
    wallMs: performance.now() - started,
  };
  await fleet.stop();
  return result;
};

note(`scale: one commit to ${BASE}, then ${TARGETS} targets over ${REGIONS} regions, ${OVERLAYS} overlays`);
const base = await scale(BASE);
note(`scale: ${BASE} targets ${JSON.stringify(base)}`);
const full = await scale(TARGETS);
note(`scale: ${TARGETS} targets ${JSON.stringify(full)}`);
emit({
  bench: 'scale',
  figure: 'per-target-time-to-healthy',
  value: full.healthyMs / TARGETS,
  unit: 'ms per target',
  comparison: `same commit to ${BASE} targets`,
  comparisonValue: base.healthyMs / BASE,
  goal: 1.5,
  targets: TARGETS,
  regions: REGIONS,
  renders: full.renders,
  releases: full.releases,
  healthyMs: full.healthyMs,
  dispatchMs: full.dispatchMs,
  longestDispatchMs: full.longestDispatchMs,
  comparisonLongestDispatchMs: base.longestDispatchMs,
});
