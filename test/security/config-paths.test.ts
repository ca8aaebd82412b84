/**
 * Issue 11, item 2 (config side): a repo value that would reach kubectl or helm as a flag, or a
 * path outside the repository, is refused by sluice.yaml's schema with a ConfigError naming the
 * field — and again by the render core, which the render Lambda runs on a spec from an event.
 */
import { describe, expect, it } from 'vitest';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { checkRenderSpec } from '../../shared/core/render.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { fleetYaml, specOf } from './render-support.ts';

const app = (fields: string) => `  - name: web
    path: apps/web
    targets: { matchLabels: { env: dev } }
${fields}`;

const refusal = (yaml: string) => {
  try {
    parseFleetConfig(yaml);
  } catch (error) {
    if (isSluiceError(error)) return error;
    throw error;
  }
  throw new Error('parseFleetConfig accepted it');
};

describe('sluice.yaml path fields', () => {
  const hostile: [string, string, RegExp][] = [
    [
      'apps[0].path',
      app('').replace('path: apps/web', 'path: "--load-restrictor=LoadRestrictionsNone"'),
      /must not start with "-"/,
    ],
    ['apps[0].path', app('').replace('path: apps/web', 'path: /etc'), /not absolute/],
    ['apps[0].base', app('    base: ../../outside'), /without "\.\."/],
    ['apps[0].base', app('    base: "base\\nx"'), /control characters/],
    [
      'apps[0].environments.dev.valueFiles[0]',
      app('    kind: helm\n    environments:\n      dev:\n        valueFiles: ["--set-file=x=/etc/passwd"]'),
      /must not start with "-"/,
    ],
    [
      'apps[0].environments.dev.overlay',
      app('    environments:\n      dev:\n        overlay: "-o/tmp/x"'),
      /must not start with "-"/,
    ],
    [
      'apps[0].helm.chart',
      app('    helm:\n      chart: "--post-renderer=/bin/sh"'),
      /must not start with "-"/,
    ],
    ['apps[0].helm.chart', app('    helm:\n      chart: "..\\\\..\\\\x"'), /control characters or/],
    [
      'apps[0].helm.name',
      app(
        '    helm:\n      repo: https://charts.example.com\n      name: "--kubeconfig=/x"\n      version: 1.0.0',
      ),
      /chart name/,
    ],
    ['apps[0].helm.releaseName', app('    helm:\n      releaseName: "-x"'), /DNS label/],
    ['apps[0].namespace', app('    namespace: "--all"'), /DNS label/],
  ];

  for (const [field, apps, problem] of hostile) {
    it(`refuses a hostile ${field} with a ConfigError naming it (${problem.source})`, () => {
      // GIVEN a sluice.yaml whose field holds a flag, an absolute path or an escape
      // WHEN it is parsed
      const error = refusal(fleetYaml(apps));
      // THEN a ConfigError names the field, the problem and a fix
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain(`at ${field}:`);
      expect(error.message).toMatch(problem);
      expect(error.message).toContain('Fix:');
    });
  }

  it('refuses a hostile policies.admission path', () => {
    const yaml = `${fleetYaml(app(''))}policies:\n  admission: ["../../etc"]\n`;
    const error = refusal(yaml);
    expect(error.message).toContain('at policies.admission[0]:');
  });

  it('accepts and normalises ordinary relative paths', () => {
    // GIVEN paths with ./, doubled and trailing slashes
    const config = parseFleetConfig(
      fleetYaml(
        app('    base: ./base/\n    environments:\n      dev:\n        overlay: overlays//dev/\n').replace(
          'path: apps/web',
          'path: ./apps/web/',
        ),
      ),
    );
    // THEN they are stored normalised
    expect(config.apps[0]).toMatchObject({
      path: 'apps/web',
      base: 'base',
      environments: { dev: { overlay: 'overlays/dev' } },
    });
  });
});

describe('checkRenderSpec (the render Lambda trusts no event)', () => {
  const cases: [string, Parameters<typeof specOf>[2], RegExp][] = [
    ['path', {}, /path "--help"/],
    ['valueFiles', { valueFiles: ['values.yaml', '-f/etc/passwd'] }, /valueFiles\[1\] "-f\/etc\/passwd"/],
    ['helm.chart', { helm: { chart: '../../..', includeCrds: true } }, /helm\.chart "\.\.\/\.\.\/\.\."/],
    ['helm.name', { helm: { name: '--repo=x', includeCrds: true } }, /helm\.name/],
    ['helm.releaseName', { helm: { releaseName: '--dry-run', includeCrds: true } }, /helm\.releaseName/],
    ['namespace', { namespace: '--all-namespaces' }, /namespace/],
  ];
  for (const [field, extra, message] of cases) {
    it(`refuses a spec whose ${field} would be a flag or leave the repo`, () => {
      // GIVEN a render spec as it could arrive on the render queue
      const spec = specOf('web', field === 'path' ? '--help' : 'apps/web', extra);
      // WHEN checked THEN a RenderError names sluice.yaml, the app and the field
      let caught: unknown;
      try {
        checkRenderSpec(spec);
      } catch (error) {
        caught = error;
      }
      expect(isSluiceError(caught) && caught.code).toBe('RENDER_FAILED');
      expect((caught as Error).message).toMatch(/^sluice\.yaml: app "web": /);
      expect((caught as Error).message).toMatch(message);
    });
  }
});
