import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { BUILTIN_POLICIES } from '../../shared/core/policy.ts';
import { type ValidateResult, validateRepo } from '../../shared/core/validate.ts';
import { BadInputError, isSluiceError } from '../../shared/errors.ts';
import type { KubeSchemaSource } from '../../shared/ports/index.ts';
import { CONFIG_FILE } from '../../shared/schemas/config.ts';
import type { Violation } from '../../shared/schemas/events.ts';
import { loadConfigRepo, openBarePath, renderWithCliTools, reportBadInput } from './render.ts';

interface ValidateOptions {
  format: string;
}

/** Opens a directory as `sluice validate` does and runs the validate use case over it. */
export const validateDirectory = async (
  dir: string,
  schemas: KubeSchemaSource = fileK8sSchemas(),
): Promise<ValidateResult> => {
  const deps = { schemas, render: renderWithCliTools };
  if ((await stat(path.join(dir, CONFIG_FILE)).catch(() => undefined)) === undefined) {
    const bare = await openBarePath(dir);
    return validateRepo(deps, { kind: 'bare', tree: bare.tree, spec: bare.spec });
  }
  const { tree, config } = await loadConfigRepo(dir);
  return validateRepo(deps, { kind: 'fleet', tree, config });
};

export const formatViolation = (v: Violation): string =>
  `${v.severity === 'warning' ? 'warning: ' : ''}${v.policy}  ${v.object}  ${v.file}  ${v.message} (fix: ${v.fix})`;

const RULE_HELP: Readonly<Record<string, string>> = {
  'no-latest-tag': 'Container images must carry an explicit tag other than latest, or a digest',
  'resources-required': 'Every container sets cpu and memory requests and limits',
  'no-privileged': 'No container runs privileged or allows privilege escalation',
  'no-plain-secrets': 'Secrets hold aws-sm:// or vault:// references, never values',
  schema: 'Every object matches the Kubernetes OpenAPI schema of its target version (or its CRD)',
};

/**
 * SARIF 2.1.0, the format GitHub code scanning reads (upload it with
 * github/codeql-action/upload-sarif): one rule per policy, one result per violation, located
 * at the repo-relative file.
 */
export const toSarif = (violations: readonly Violation[]): object => {
  const ids = [...new Set([...BUILTIN_POLICIES, 'schema', ...violations.map((v) => v.policy)])];
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'sluice',
            informationUri: 'https://github.com/sluice-dev/sluice/blob/main/docs/policies.md',
            rules: ids.map((id) => ({
              id,
              name: id,
              shortDescription: { text: RULE_HELP[id] ?? id },
              helpUri: `https://github.com/sluice-dev/sluice/blob/main/docs/policies.md#${id}`,
              defaultConfiguration: { level: 'error' },
            })),
          },
        },
        results: violations.map((v) => ({
          ruleId: v.policy,
          ruleIndex: ids.indexOf(v.policy),
          level: v.severity === 'warning' ? 'warning' : 'error',
          message: { text: `${v.object}: ${v.message}. Fix: ${v.fix}` },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: v.file, uriBaseId: '%SRCROOT%' } },
              logicalLocations: [{ name: v.object, kind: 'resource' }],
            },
          ],
          partialFingerprints: { sluiceViolation: `${v.policy}|${v.object}|${v.message}` },
        })),
        columnKind: 'unicodeCodePoints',
      },
    ],
  };
};

export const registerValidate = (program: Command): void => {
  program
    .command('validate')
    .description(
      'Check sluice.yaml, render every app in every environment and run the policy pack (or check one bare directory)',
    )
    .argument('<dir>', `config repository (holding ${CONFIG_FILE}), kustomization, chart or YAML directory`)
    .option('--format <format>', 'text, json or sarif', 'text')
    .action(async (dir: string, options: ValidateOptions) => {
      const json = options.format === 'json';
      try {
        if (options.format !== 'text' && options.format !== 'sarif' && !json) {
          throw new BadInputError(
            `--format ${options.format}`,
            'is not a known format',
            'use text, json or sarif',
          );
        }
        const result = await validateDirectory(dir);
        // Warnings (custom kinds not checked) are printed but never fail the command.
        const failures = result.violations.filter((v) => v.severity !== 'warning');
        const ok = failures.length === 0;
        if (options.format === 'sarif') {
          console.log(JSON.stringify(toSarif(result.violations), null, 2));
        } else if (json) {
          console.log(JSON.stringify({ ok, violations: result.violations }, null, 2));
        } else if (ok) {
          for (const v of result.violations) console.log(formatViolation(v));
          const warned = result.violations.length > 0 ? `, ${result.violations.length} warning(s)` : '';
          console.log(
            `ok: ${result.apps} app(s), ${result.renders} render(s), ${result.objects} object(s), no policy violations${warned}`,
          );
        } else {
          for (const v of result.violations) console.log(formatViolation(v));
          console.error(
            `sluice: ${failures.length} policy violation(s); fix them or disable the policy (docs/policies.md)`,
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
