import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import cdkNag from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import { BUNDLE_CONTEXT } from '../../infra/constructs/sluice-function.ts';
import { acceptFinding } from '../../infra/nag.ts';
import { testConfig } from './support.ts';

const { AwsSolutionsChecks } = cdkNag;
const outdirs: string[] = [];
const outdir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-nag-'));
  outdirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions', () => {
  let app: App;
  let synthError: unknown;

  beforeAll(() => {
    // GIVEN every stack with the AwsSolutions pack attached (as infra/app.ts does)
    app = new App({ context: { [BUNDLE_CONTEXT]: false }, outdir: outdir() });
    buildApp(testConfig(), app);
    // WHEN the app is synthesised (validation plugins run at synth)
    try {
      app.synth();
    } catch (error) {
      synthError = error;
    }
  });

  it('finds no unacknowledged error in any stack', () => {
    const report = (() => {
      try {
        return readFileSync(join(app.outdir, 'validation-report.json'), 'utf8');
      } catch {
        return '';
      }
    })();
    expect(synthError, report.slice(0, 2000)).toBeUndefined();
  });

  it('gives every acknowledgement a written reason', () => {
    const acknowledged = app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) expect(reason.trim().length, id).toBeGreaterThanOrEqual(20);
  });

  it('fails synthesis on a finding nobody acknowledged (the check can fail)', () => {
    // GIVEN a queue without a DLQ and without an acknowledgement
    const bad = new App({ outdir: outdir() });
    new sqs.Queue(new Stack(bad, 'Bad'), 'NoDlq', { enforceSSL: true });
    Validations.of(bad).addPlugins(new AwsSolutionsChecks(bad));
    // THEN synthesis stops
    expect(() => bad.synth()).toThrow(/AwsSolutions-SQS3/);
  });

  it('refuses an acknowledgement without a reason', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => acceptFinding(stack, 'S1', '')).toThrow(/reason "" is missing or too short. Fix:/);
  });
});
