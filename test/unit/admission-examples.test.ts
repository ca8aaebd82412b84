import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateDirectory } from '../../cli/commands/validate.ts';

const EXAMPLE = path.resolve(import.meta.dirname, '../../examples/policy-violations');

describe('examples/policy-violations', () => {
  it('flags every seeded violation with its policy and file, and nothing else', async () => {
    // GIVEN the example repo: one bad object per apps/shop/*-bad-*.yaml, a CRD under crds/, and
    // ValidatingAdmissionPolicies with a params ConfigMap under policies/
    // WHEN validated as `sluice validate` does
    const result = await validateDirectory(EXAMPLE);
    // THEN exactly the seeded violations are reported, each against its own file
    expect(result.violations.map((v) => [v.policy, v.object, v.file])).toEqual([
      ['team-label', 'ConfigMap/shop/settings', 'apps/shop/configmap-bad-team-label.yaml'],
      ['no-latest-tag', 'Deployment/shop/cron-runner', 'apps/shop/deployment-bad-latest-tag.yaml'],
      ['replica-limit', 'Deployment/shop/worker', 'apps/shop/deployment-bad-replica-limit.yaml'],
      ['schema', 'Deployment/shop/api-typo', 'apps/shop/deployment-bad-schema-field.yaml'],
      ['schema', 'Gadget/shop/spinner', 'apps/shop/gadget-bad-schema-no-crd.yaml'],
      ['schema', 'Widget/shop/hero', 'apps/shop/widget-bad-schema-enum.yaml'],
    ]);
    expect(result.violations.find((v) => v.policy === 'replica-limit')?.message).toBe(
      "ValidatingAdmissionPolicy 'replica-limit' with binding 'replica-limit-prod' denied request: replicas must be at most 5, got 9",
    );
  });

  it('keeps the example fleet clean under every layer', async () => {
    // GIVEN examples/fleet WHEN validated THEN the schema and admission layers find nothing either
    const result = await validateDirectory(path.resolve(EXAMPLE, '../fleet'));
    expect(result.violations).toEqual([]);
  });
});
