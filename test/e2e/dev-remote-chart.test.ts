/**
 * Issue 17, "Done when": a remote chart renders offline after its first fetch, through
 * `sluice dev`. A chart repository on 127.0.0.1 serves the chart once; after it is stopped, a new
 * commit that changes the app's values (a new render, not a render-cache hit) still deploys,
 * from the chart kept by digest in the workdir.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { digestOf, packageChart, startChartRepo } from '../support/chart-repo.ts';
import { startTestDev, tempDir, waitFor } from '../support/dev-harness.ts';

const fleet = (url: string, digest: string) => `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: charts, cloud: other, region: local, labels: { env: charts }, cluster: { kind: directory } }
apps:
  - name: hello
    path: apps/hello
    namespace: hello
    helm: { repo: ${url}, name: hello, version: 1.2.3, digest: ${digest} }
    targets: { matchLabels: { env: charts } }
    environments:
      charts: { valueFiles: [values.yaml] }
`;

describe('sluice dev with a chart from a Helm repository', () => {
  it('deploys it, then deploys a new commit with the repository gone', async () => {
    // GIVEN a chart repository on 127.0.0.1 and `sluice dev`
    const chart = await packageChart(await tempDir('chart'), 'hello', '1.2.3');
    const repo = await startChartRepo();
    repo.serve('stable', [{ name: 'hello', version: '1.2.3', bytes: chart }]);
    const t = await startTestDev({ coalesceMs: 100 });
    const deployedGreeting = async (commit: string) => {
      await waitFor(`hello Healthy at ${commit.slice(0, 7)}`, async () => {
        const records = await t.dev.pipeline.ledger.listDeployments();
        const failed = t.events('Render Failed').at(-1);
        if (failed) throw new Error(JSON.stringify(failed.detail));
        return (
          records.some((r) => r.app === 'hello' && r.commit === commit && r.state === 'Healthy') || undefined
        );
      });
      const dir = path.join(t.workdir, 'targets', 'charts', 'hello');
      const file = (await readdir(dir)).find((f) => f.includes('hello-cm'))!;
      return readFile(path.join(dir, file), 'utf8');
    };
    try {
      // WHEN the fleet names the chart by repository, version and digest
      const first = await t.push(
        {
          'sluice.yaml': fleet(`${repo.url}/stable`, digestOf(chart)),
          'apps/hello/values.yaml': 'greeting: one\n',
        },
        'hello from a chart repository',
      );
      // THEN it is fetched and deployed
      expect(await deployedGreeting(first)).toMatch(/greeting: one/);
      expect(repo.requests).toEqual(['/stable/index.yaml', '/stable/hello-1.2.3.tgz']);
      // AND WHEN the repository is gone and the values change
      await repo.close();
      const second = await t.push({ 'apps/hello/values.yaml': 'greeting: two\n' }, 'new values, offline');
      // THEN the new render deploys from the cached chart
      expect(await deployedGreeting(second)).toMatch(/greeting: two/);
      expect(repo.requests).toHaveLength(2);
    } finally {
      await t.stop();
      await repo.close(); // a second close is harmless: it resolves either way
    }
  }, 180_000);
});
