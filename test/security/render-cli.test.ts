/**
 * Issue 11, items 2, 3, 5 and 8 through the real CLI: `sluice validate` and `sluice render`
 * refuse each class with exit 2 (bad input) or 1 (policy), a message naming the file or field,
 * and nothing from outside the repository in their output or on disk.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  aliasBomb,
  configMap,
  fleetYaml,
  type Sandbox,
  sandbox,
  sluice,
  sluiceWith,
} from './render-support.ts';

const boxes: Sandbox[] = [];
const repoWith = (files: Record<string, string>) => {
  const b = sandbox();
  boxes.push(b);
  b.write(files);
  return b;
};
afterAll(() => {
  for (const b of boxes) b.cleanup();
});

const web = (fields = '') => `  - name: web
    path: apps/web
    targets: { matchLabels: { env: dev } }
${fields}`;

describe('sluice validate and render refuse hostile repositories', () => {
  it('refuses a values file that is a helm flag, naming the field (item 2)', () => {
    const b = repoWith({
      'sluice.yaml': fleetYaml(
        web(
          '    kind: helm\n    environments:\n      dev:\n        valueFiles: ["--set-file=leak=CANARY"]\n',
        ),
      ),
      'apps/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    });
    for (const run of [sluice('validate', b.repo), sluice('render', b.repo)]) {
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/at apps\[0\]\.environments\.dev\.valueFiles\[0\]: must not start with "-"/);
    }
  });

  it('renders nothing read outside the repository and writes nothing outside --out (item 2)', () => {
    const b = repoWith({
      'sluice.yaml': fleetYaml(web()),
      'apps/web/kustomization.yaml':
        'configMapGenerator:\n  - name: leak\n    files: [../../../outside/canary.txt]\n',
    });
    const out = path.join(b.dir, 'out');
    const run = sluice('render', b.repo, '--app', 'web', '--target', 'dev', '--out', out);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /apps\/web\/kustomization\.yaml: reference "\.\.\/\.\.\/\.\.\/outside\/canary\.txt" is outside the repository/,
    );
    expect(run.stdout + run.stderr).not.toContain(b.canaryText);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a remote base, naming the kustomization and the entry (item 5)', () => {
    const b = repoWith({
      'sluice.yaml': fleetYaml(web()),
      'apps/web/kustomization.yaml': 'resources:\n  - HTTPS://github.com/acme/base//deploy?ref=v1\n',
    });
    const run = sluice('validate', b.repo);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'apps/web/kustomization.yaml: refers to the remote resource "HTTPS://github.com/acme/base//deploy?ref=v1"',
    );
  });

  it('answers an alias bomb and the host limits with the file and the setting (item 8)', () => {
    const files: Record<string, string> = { 'sluice.yaml': fleetYaml(web()) };
    for (let i = 0; i < 3; i++) files[`apps/web/cm-${i}.yaml`] = configMap(`cm-${i}`);
    const b = repoWith(files);
    // GIVEN the host allows two objects per app WHEN an app renders three THEN the limit answers
    const limited = sluiceWith({ SLUICE_RENDER_MAX_OBJECTS: '2' }, 'render', b.repo);
    expect(limited.code).toBe(2);
    expect(limited.stderr).toMatch(
      /app "web" renders 3 objects, over the limit of 2 per app.*SLUICE_RENDER_MAX_OBJECTS/,
    );
    // AND a malformed setting fails naming the variable
    const malformed = sluiceWith({ SLUICE_RENDER_MAX_OBJECTS: 'lots' }, 'render', b.repo);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/SLUICE_RENDER_MAX_OBJECTS: must be a whole number/);
    // AND an alias bomb names its file
    b.write({ 'apps/web/cm-0.yaml': aliasBomb() });
    const bomb = sluice('validate', b.repo);
    expect(bomb.code).toBe(2);
    expect(bomb.stderr).toMatch(/apps\/web\/cm-0\.yaml: cannot be read as YAML \(Excessive alias count/);
  });
});
