/**
 * Issue 11, item 2: repo content never reaches kubectl kustomize or helm as a flag, and never
 * makes them read or run anything outside the app. Each case runs the real tools from the
 * kubectl layer over a throwaway repository next to a canary file that must never leak.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { renderApp } from '../../shared/core/render.ts';
import { configMap, type Sandbox, sandbox, specOf } from './render-support.ts';

const renderer = createToolRenderer();
const boxes: Sandbox[] = [];
const box = () => {
  const b = sandbox();
  boxes.push(b);
  return b;
};
afterAll(() => {
  for (const b of boxes) b.cleanup();
});

/** Renders and returns the error message (or the output, to search for the canary). */
const attempt = async (b: Sandbox, appPath: string, extra = {}) => {
  try {
    const objects = await renderApp(b.tree(), specOf('web', appPath, extra), renderer);
    return { ok: true as const, text: JSON.stringify(objects) };
  } catch (error) {
    return { ok: false as const, text: (error as Error).message };
  }
};

describe('kustomize reads only inside the app', () => {
  it('refuses a generator file given by an absolute path, before kustomize runs', async () => {
    // GIVEN a configMapGenerator that names the canary by its absolute path
    const b = box();
    b.write({
      'app/kustomization.yaml': `configMapGenerator:\n  - name: leak\n    files: [${b.canary}]\n`,
    });
    // WHEN rendered
    const result = await attempt(b, 'app');
    // THEN the kustomization and the entry are named, and the canary is nowhere
    expect(result.ok).toBe(false);
    expect(result.text).toMatch(
      /^app\/kustomization\.yaml: reference ".*canary\.txt" is outside the repository/,
    );
    expect(result.text).not.toContain(b.canaryText);
  });

  it('refuses key=../.. generator files and env files that climb out of the repository', async () => {
    const b = box();
    b.write({
      'app/kustomization.yaml':
        'secretGenerator:\n  - name: leak\n    files: [key=../../outside/canary.txt]\n    envs: [../../outside/canary.txt]\n',
    });
    const result = await attempt(b, 'app');
    expect(result.ok).toBe(false);
    expect(result.text).toContain('"../../outside/canary.txt" is outside the repository');
    expect(result.text).not.toContain(b.canaryText);
  });

  it('lets kustomize refuse a file inside the repo but outside the kustomization root (LoadRestrictionsRootOnly)', async () => {
    // GIVEN a repo-level secret file read by an app's generator through ../
    const b = box();
    b.write({
      'secret.txt': `${b.canaryText}\n`,
      'app/kustomization.yaml': 'configMapGenerator:\n  - name: leak\n    files: [../secret.txt]\n',
    });
    const result = await attempt(b, 'app');
    // THEN kustomize itself refuses it, and the content is not rendered
    expect(result.ok).toBe(false);
    expect(result.text).toMatch(/^app\/kustomization\.yaml: kustomize failed: .*(security|not in or below)/s);
    expect(result.text).not.toContain(b.canaryText);
  });

  it('never runs an exec KRM function or a legacy plugin named in generators or transformers', async () => {
    // GIVEN a generator whose function config runs a script that would create a file
    const b = box();
    const pwned = path.join(b.dir, 'pwned');
    b.write({
      'app/plugin.sh': `#!/bin/sh\necho owned > ${pwned}\n`,
      'app/gen.yaml': `apiVersion: example.com/v1\nkind: Gen\nmetadata:\n  name: gen\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./plugin.sh\n`,
      'app/legacy.yaml':
        'apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: legacy\n',
      'app/cm.yaml': configMap('ok'),
      'app/kustomization.yaml': 'resources: [cm.yaml]\ngenerators: [gen.yaml]\n',
      'legacy/cm.yaml': configMap('ok'),
      'legacy/legacy.yaml':
        'apiVersion: someteam.example.com/v1\nkind: ChartInflator\nmetadata:\n  name: legacy\n',
      'legacy/kustomization.yaml': 'resources: [cm.yaml]\ntransformers: [legacy.yaml]\n',
    });
    // WHEN both are rendered
    const exec = await attempt(b, 'app');
    const legacy = await attempt(b, 'legacy');
    // THEN kustomize refuses both (plugins stay disabled) and the script never ran
    expect(exec.ok).toBe(false);
    expect(exec.text).toMatch(/^app\/kustomization\.yaml: kustomize failed: /);
    expect(legacy.ok).toBe(false);
    expect(legacy.text).toMatch(/^legacy\/kustomization\.yaml: kustomize failed: .*plugin/is);
    expect(existsSync(pwned)).toBe(false);
  });
});

describe('helm reads only the chart', () => {
  it('renders nothing from outside the chart through .Files.Get', async () => {
    // GIVEN a chart template that asks for the canary by relative and absolute path
    const b = box();
    b.write({
      'chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
      'chart/templates/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  rel: {{ .Files.Get "../outside/canary.txt" | quote }}\n  abs: {{ .Files.Get "${b.canary}" | quote }}\n`,
    });
    // WHEN rendered THEN it renders, with both values empty
    const result = await attempt(b, 'chart');
    expect(result.ok).toBe(true);
    expect(result.text).toContain('"rel":""');
    expect(result.text).not.toContain(b.canaryText);
  });

  it('keeps values that look like files or commands literal', async () => {
    // GIVEN sluice.yaml values naming the canary as a file:// URL and a shell substitution
    const b = box();
    b.write({
      'chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
      'chart/templates/cm.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vals\ndata:\n  url: {{ .Values.url | quote }}\n  cmd: {{ .Values.cmd | quote }}\n',
    });
    const values = { url: `file://${b.canary}`, cmd: `$(cat ${b.canary})` };
    // WHEN rendered THEN both arrive as the literal strings, and the canary is not read
    const result = await attempt(b, 'chart', { values });
    expect(result.ok).toBe(true);
    expect(result.text).toContain(JSON.stringify(values.url));
    expect(result.text).toContain(JSON.stringify(values.cmd));
    expect(result.text).not.toContain(b.canaryText);
  });

  it('passes a hostile release name after "--", where helm takes it as a name and rejects it', async () => {
    // GIVEN the adapter called directly, as a caller bypassing the core's checks would
    const b = box();
    b.write({
      'chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
      'chart/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n',
    });
    const result = await renderer.helmTemplate({
      root: b.repo,
      chart: 'chart',
      releaseName: `--set-file=leak=${b.canary}`,
      valueFiles: [],
      values: {},
      includeCrds: false,
      inputs: ['chart'],
    });
    // THEN helm fails on the release name and the canary is not read
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(/release name/);
    expect(JSON.stringify(result)).not.toContain(b.canaryText);
  });

  it('refuses values files and chart directories outside the checkout at the adapter too', async () => {
    const b = box();
    b.write({ 'chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n' });
    const common = { root: b.repo, releaseName: 'web', values: {}, includeCrds: false, inputs: [] };
    const values = await renderer.helmTemplate({
      ...common,
      chart: 'chart',
      valueFiles: ['../outside/canary.txt'],
    });
    const chart = await renderer.helmTemplate({ ...common, chart: '../outside', valueFiles: [] });
    const dir = await renderer.kustomize({ root: b.repo, dir: '../outside', inputs: [] });
    expect(values).toMatchObject({
      ok: false,
      reason: 'refused',
      message: 'values file "../outside/canary.txt" is outside the repository',
    });
    expect(chart).toMatchObject({ ok: false, reason: 'refused' });
    expect(dir).toMatchObject({ ok: false, reason: 'refused' });
  });
});
