import type { Command } from 'commander';
import { checkPolicies } from '../../shared/core/policy.ts';
import { renderApp, renderSpecForEnvironment } from '../../shared/core/render.ts';
import { BadInputError, isSluiceError } from '../../shared/errors.ts';
import { CONFIG_FILE } from '../../shared/schemas/config.ts';
import type { Violation } from '../../shared/schemas/events.ts';
import { loadConfigRepo, reportBadInput } from './render.ts';

interface ValidateOptions {
  format: string;
}

export interface ValidateResult {
  apps: number;
  renders: number;
  objects: number;
  violations: Violation[];
}

/**
 * Renders every app once per declared environment (once when it has none) and runs the policy
 * pack over each render. A violation found in several environments is reported once.
 */
export const validateRepo = async (dir: string): Promise<ValidateResult> => {
  const { tree, config } = await loadConfigRepo(dir);
  const seen = new Set<string>();
  const violations: Violation[] = [];
  let renders = 0;
  let objects = 0;
  for (const app of config.apps) {
    const environments = Object.keys(app.environments).sort();
    for (const environment of environments.length > 0 ? environments : [undefined]) {
      const spec = renderSpecForEnvironment(config, app, environment);
      const rendered = await renderApp(tree, spec);
      renders += 1;
      objects += rendered.length;
      for (const v of checkPolicies(rendered, spec.disabledPolicies)) {
        const key = JSON.stringify(v);
        if (seen.has(key)) continue;
        seen.add(key);
        violations.push(v);
      }
    }
  }
  return { apps: config.apps.length, renders, objects, violations };
};

export const formatViolation = (v: Violation): string =>
  `${v.policy}  ${v.object}  ${v.file}  ${v.message} (fix: ${v.fix})`;

export const registerValidate = (program: Command): void => {
  program
    .command('validate')
    .description('Check sluice.yaml, render every app in every environment and run the policy pack')
    .argument('<dir>', `config repository (the directory holding ${CONFIG_FILE})`)
    .option('--format <format>', 'text or json', 'text')
    .action(async (dir: string, options: ValidateOptions) => {
      const json = options.format === 'json';
      try {
        if (options.format !== 'text' && !json) {
          throw new BadInputError(`--format ${options.format}`, 'is not a known format', 'use text or json');
        }
        const result = await validateRepo(dir);
        const ok = result.violations.length === 0;
        if (json) {
          console.log(JSON.stringify({ ok, violations: result.violations }, null, 2));
        } else if (ok) {
          console.log(
            `ok: ${result.apps} app(s), ${result.renders} render(s), ${result.objects} object(s), no policy violations`,
          );
        } else {
          for (const v of result.violations) console.log(formatViolation(v));
          console.error(
            `sluice: ${result.violations.length} policy violation(s); fix them or disable the policy (docs/policies.md)`,
          );
        }
        process.exitCode = ok ? 0 : 1;
      } catch (error) {
        if (json && isSluiceError(error)) {
          console.log(
            JSON.stringify({
              ok: false,
              violations: [],
              error: { code: error.code, message: error.message },
            }),
          );
        }
        reportBadInput(dir, error);
      }
    });
};
