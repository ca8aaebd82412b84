/** sluice.yaml's rollout waves (docs/progressive-delivery.md): placement and validation. */
import { describe, expect, it } from 'vitest';
import { parseFleetConfig, selectTargets } from '../../shared/core/config.ts';
import { wavesFor } from '../../shared/core/rollout.ts';

const fleet = (rollout: string) => `
apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: staging-use1, cloud: aws, region: us-east-1, labels: { env: staging, geo: us } }
  - { name: prod-euw1, cloud: aws, region: eu-west-1, labels: { env: prod, geo: eu } }
  - { name: prod-euc1, cloud: aws, region: eu-central-1, labels: { env: prod, geo: eu } }
  - { name: prod-use1, cloud: aws, region: us-east-1, labels: { env: prod, geo: us } }
apps:
  - name: web
    path: apps/web
    targets: {}
${rollout}`;

const wavesOf = (text: string) => {
  const config = parseFleetConfig(text);
  const app = config.apps[0]!;
  return wavesFor(
    config,
    app,
    selectTargets(app.targets, config.targets).map((t) => t.name),
  )?.map((w) => `${w.name}:${w.targets.join(',')}`);
};

describe('rollout waves in sluice.yaml', () => {
  it('puts each target in the first wave that selects it, the rest in an implicit last wave', () => {
    // GIVEN a canary by name and an EU wave by label, with no wave for prod-use1
    const text = fleet(`    rollout:
      waves:
        - { name: canary, targets: { names: [staging-use1] }, bakeSeconds: 300 }
        - { name: prod-eu, targets: { matchLabels: { geo: eu } }, maxParallel: 2, approval: true }
`);
    // WHEN the waves are placed THEN prod-use1 lands in "rest"
    expect(wavesOf(text)).toEqual(['canary:staging-use1', 'prod-eu:prod-euw1,prod-euc1', 'rest:prod-use1']);
  });

  it('gives a wave without a selector every target not placed yet', () => {
    const text = fleet(`    rollout:
      waves:
        - { name: canary, targets: { names: [staging-use1] } }
        - { name: everyone }
`);
    expect(wavesOf(text)).toEqual(['canary:staging-use1', 'everyone:prod-euw1,prod-euc1,prod-use1']);
  });

  it('keeps today’s behaviour without rollout: no waves at all', () => {
    expect(wavesOf(fleet(''))).toBeUndefined();
  });

  it('names a wave that selects nothing', () => {
    const text = fleet(`    rollout:
      waves:
        - { name: canary, targets: { names: [staging-use1] } }
        - { name: again, targets: { names: [staging-use1] } }
`);
    expect(() => parseFleetConfig(text)).toThrow(
      /apps\[0\]\.rollout\.waves\[1\].*wave "again" selects none/s,
    );
  });

  it('names a duplicate wave name', () => {
    const text = fleet(`    rollout:
      waves:
        - { name: canary, targets: { names: [staging-use1] } }
        - { name: canary }
`);
    expect(() => parseFleetConfig(text)).toThrow(/wave name "canary" is used twice/);
  });

  it.each(['-5', '1.5', '"5m"', '9999999'])('refuses bakeSeconds %s', (bake) => {
    const text = fleet(`    rollout:
      waves:
        - { name: canary, targets: { names: [staging-use1] }, bakeSeconds: ${bake} }
`);
    expect(() => parseFleetConfig(text)).toThrow(/bakeSeconds/);
  });
});
