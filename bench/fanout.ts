/**
 * fanout: one commit to 1,000 targets that share 10 overlays. Sluice renders once per distinct
 * (app, overlay, values): 10 renders, not 1,000. Reports the time from the push to the last
 * Apply Requested (every target dispatched) and to the last target Healthy, beside the same
 * commit to a tenth of the targets, measured in the same run: per target, the two should cost
 * the same if dispatch scales linearly.
 */
import type { Envelope } from '../shared/schemas/events.ts';
import { fanoutRepo } from './lib/fixtures.ts';
import { allHealthyAt, startFleet, until } from './lib/fleet.ts';
import { emit, note } from './lib/report.ts';

const TARGETS = Number(process.env.BENCH_FANOUT_TARGETS ?? 1000);
const OVERLAYS = Number(process.env.BENCH_FANOUT_OVERLAYS ?? 10);

const at = (e: Envelope | undefined) => (e ? Date.parse(e.time) : Number.NaN);

const fanout = async (targets: number) => {
  const fleet = await startFleet({ repos: { edge: fanoutRepo(targets, OVERLAYS) } });
  const sha = await fleet.head('edge');
  await until('every target Healthy', () => allHealthyAt(fleet.pipeline, 'edge', sha, targets), 1_800_000);
  await fleet.pipeline.idle({ timeoutMs: 600_000 });
  const events = fleet.events();
  const of = (type: string) => events.filter((e) => e['detail-type'] === type);
  const pushed = at(of('Commit Pushed')[0]);
  const result = {
    renders: of('Bundle Verified').length,
    dispatched: of('Apply Requested').length,
    releases: of('Deployment Succeeded').length,
    dispatchMs: at(of('Apply Requested').at(-1)) - pushed,
    healthyMs: at(of('Deployment Succeeded').at(-1)) - pushed,
  };
  await fleet.stop();
  return result;
};

const small = Math.max(OVERLAYS, Math.round(TARGETS / 10));
note(`fanout: one commit to ${small}, then ${TARGETS} targets over ${OVERLAYS} overlays`);
const base = await fanout(small);
note(`fanout: ${small} targets ${JSON.stringify(base)}`);
const full = await fanout(TARGETS);
note(`fanout: ${TARGETS} targets ${JSON.stringify(full)}`);
const common = {
  bench: 'fanout' as const,
  targets: TARGETS,
  overlays: OVERLAYS,
  renders: full.renders,
  releases: full.releases,
};
emit({
  ...common,
  figure: 'renders',
  value: full.renders,
  unit: 'renders',
  comparison: 'one render per target (a renderer per application instance)',
  comparisonValue: TARGETS,
  goal: OVERLAYS,
});
emit({
  ...common,
  figure: 'time-to-dispatch-all',
  value: full.dispatchMs,
  unit: 'ms',
  comparison: `same commit to ${small} targets`,
  comparisonValue: base.dispatchMs,
  perTargetMs: full.dispatchMs / TARGETS,
  comparisonPerTargetMs: base.dispatchMs / small,
});
emit({
  ...common,
  figure: 'time-to-healthy-all',
  value: full.healthyMs,
  unit: 'ms',
  comparison: `same commit to ${small} targets`,
  comparisonValue: base.healthyMs,
  perTargetMs: full.healthyMs / TARGETS,
  comparisonPerTargetMs: base.healthyMs / small,
});
