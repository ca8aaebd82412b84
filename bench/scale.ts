/**
 * scale: one commit to 10,000 targets over 20 regions (10 overlays: 10 renders), in process,
 * beside the same commit to 100 targets in the same run. The figure is the per-target cost of
 * getting every target Healthy (push to the last Deployment Succeeded, divided by the targets);
 * flat means within 1.5× from 100 to 10,000. Also reported: renders, how many dispatch
 * invocations there were, and the longest one (a handler call on the dispatch queue, as Lambda
 * invokes it: a bundle for more than 250 targets is split into chunks, one invocation each, so
 * this must not grow with the fleet and stays far inside a Lambda's timeout).
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
  const dispatch = { invocations: 0, longestMs: 0, records: 0 };
  // Targets Healthy so far, counted from the events (polling the ledger of 10,000 would cost more
  // than the work measured); the ledger is checked once at the end.
  const healthy = new Set<string>();
  const fleet = await startFleet({
    repos: { edge: fanoutRepo(targets, OVERLAYS, AWS_REGIONS.slice(0, REGIONS)) },
    onInvocation: (stage, ms, records) => {
      if (stage !== 'dispatch') return;
      dispatch.invocations += 1;
      dispatch.records += records;
      dispatch.longestMs = Math.max(dispatch.longestMs, ms);
    },
    onEvent: (e) => {
      if (e['detail-type'] === 'Deployment Succeeded') healthy.add((e.detail as { target: string }).target);
    },
  });
  const sha = await fleet.head('edge');
  await until('every target Healthy', () => (healthy.size >= targets ? true : undefined), 3_600_000);
  // Then the ledger, once report has recorded every outcome (checked every half second).
  while (!(await allHealthyAt(fleet.pipeline, 'edge', sha, targets))) {
    if (performance.now() - started > 3_600_000)
      throw new Error('the ledger never said every target Healthy');
    await new Promise((r) => setTimeout(r, 500));
  }
  const ledgerAt = Date.now();
  await fleet.pipeline.idle({ timeoutMs: 600_000 });
  const events = fleet.events();
  const of = (type: string) => events.filter((e) => e['detail-type'] === type);
  const pushed = at(of('Commit Pushed')[0]);
  const applies = of('Apply Requested');
  const result = {
    renders: of('Bundle Verified').length,
    releasePlanned: of('Release Planned').length,
    releases: of('Deployment Succeeded').length,
    applyRequested: applies.length,
    healthyMs: at(of('Deployment Succeeded').at(-1)) - pushed,
    ledgerHealthyMs: ledgerAt - pushed,
    dispatchMs: at(applies.at(-1)) - pushed,
    dispatchInvocations: dispatch.invocations,
    longestDispatchInvocationMs: Math.round(dispatch.longestMs),
    wallMs: Math.round(performance.now() - started),
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
  applyRequested: full.applyRequested,
  healthyMs: full.healthyMs,
  ledgerHealthyMs: full.ledgerHealthyMs,
  dispatchMs: full.dispatchMs,
  dispatchInvocations: full.dispatchInvocations,
  longestDispatchInvocationMs: full.longestDispatchInvocationMs,
  comparisonLongestDispatchInvocationMs: base.longestDispatchInvocationMs,
});
emit({
  bench: 'scale',
  figure: 'longest-dispatch-invocation',
  value: full.longestDispatchInvocationMs,
  unit: 'ms',
  comparison: `same commit to ${BASE} targets`,
  comparisonValue: base.longestDispatchInvocationMs,
  targets: TARGETS,
});
