import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Runs the real CLI on the pinned Node, as a user would. */
const sluice = (...args: string[]) => {
  const run = spawnSync(process.execPath, [path.join(repoRoot, 'bin/sluice.mjs'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

const out = mkdtempSync(path.join(tmpdir(), 'sluice-render-out-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('sluice render and validate on bare paths', () => {
  it('writes one file per object of a chart directory rendered with layered --values', () => {
    // GIVEN the conformance chart and two values files
    const chart = 'test/conformance/helm-chart';
    // WHEN rendered with --out
    const run = sluice(
      'render',
      chart,
      '--values',
      `${chart}/values-prod.yaml`,
      '--values',
      `${chart}/values-canary.yaml`,
      '--out',
      out,
    );
    // THEN every object is a file, and the last values file won
    expect(run.code).toBe(0);
    expect(readdirSync(out).sort()).toContain('ingress.helm-chart-ledger.yaml');
    expect(readFileSync(path.join(out, 'deployment.helm-chart-ledger.yaml'), 'utf8')).toContain(
      'ledger:3.2.0-rc.1',
    );
  });

  it('reports violations of a kustomize overlay as SARIF 2.1.0 for GitHub code scanning', () => {
    // GIVEN the conformance overlay, whose secret generator puts a value in Secret.data
    // WHEN validated with --format sarif
    const run = sluice('validate', 'test/conformance/kustomize-overlay/overlays/prod', '--format', 'sarif');
    // THEN it exits 1 and the SARIF names the rule, the object and the kustomization file
    expect(run.code).toBe(1);
    const sarif = JSON.parse(run.stdout) as {
      version: string;
      runs: {
        results: {
          ruleId: string;
          message: { text: string };
          locations: { physicalLocation: { artifactLocation: { uri: string } } }[];
        }[];
      }[];
    };
    expect(sarif.version).toBe('2.1.0');
    const results = sarif.runs[0]!.results;
    expect(results.map((r) => r.ruleId)).toEqual(['no-plain-secrets']);
    expect(results[0]!.message.text).toMatch(/^Secret\/shop-prod\/prod-shop-db-v2-\w+: data\.url/);
    expect(results[0]!.locations[0]!.physicalLocation.artifactLocation.uri).toBe(
      'test/conformance/kustomize-overlay/overlays/prod/kustomization.yaml',
    );
  });
});
