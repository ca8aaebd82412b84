import { describe, expect, it } from 'vitest';
import { figureLine } from '../../bench/lib/report.ts';

describe('bench lines', () => {
  it('lead with the seven fields every bench shares, in order, then the bench extras', () => {
    // GIVEN a figure with extras declared before the comparison
    const line = figureLine({
      bench: 'peers',
      figure: 'apply 1000 apps cold',
      apps: 1000,
      value: 12.34567,
      unit: 's',
      comparison: 'kubectl apply --server-side per app',
      comparisonValue: 49.3827,
    });
    // THEN the shared fields come first, rounded, with the ratio value / comparisonValue
    expect(Object.keys(line)).toEqual([
      'bench',
      'figure',
      'value',
      'unit',
      'comparison',
      'comparisonValue',
      'ratio',
      'apps',
    ]);
    expect(line).toMatchObject({ value: 12.346, comparisonValue: 49.383, ratio: 0.25, apps: 1000 });
  });

  it('has no ratio when the comparison is zero', () => {
    const line = figureLine({
      bench: 'monorepo',
      figure: 'renders for an empty commit',
      value: 0,
      unit: 'renders',
      comparison: 'path-blind planner',
      comparisonValue: 0,
    });
    expect(line.ratio).toBeNull();
  });
});
