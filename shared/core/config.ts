import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import {
  type AppConfig,
  CONFIG_FILE,
  type FleetConfig,
  fleetConfigSchema,
  type Selector,
  type TargetConfig,
} from '../schemas/config.ts';
import { checkWaves } from './rollout.ts';

/** `apps[1].targets.matchLabels` from a zod issue path. */
export const formatPath = (path: readonly PropertyKey[]): string =>
  path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
    .join('');

const fixFor = (issue: z.core.$ZodIssue): string => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `add the required field "${String(issue.path.at(-1))}"`
        : `give it a value of type ${issue.expected}`;
    case 'unrecognized_keys':
      return `remove or rename ${issue.keys.map((k) => `"${k}"`).join(', ')} (see the sluice.yaml reference in README.md)`;
    case 'invalid_value':
      return `use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `list at least ${String(issue.minimum)} item(s)`
        : 'give it a non-empty value';
    case 'custom':
      return typeof issue.params?.fix === 'string'
        ? issue.params.fix
        : 'correct the value as the message says (see the sluice.yaml reference in README.md)';
    default:
      return 'correct the value as the message says (see the sluice.yaml reference in README.md)';
  }
};

/** Line number of a path inside the YAML document, when it can be found. */
const lineOf = (
  doc: ReturnType<typeof parseDocument>,
  counter: LineCounter,
  path: readonly PropertyKey[],
) => {
  let node: unknown = doc.contents;
  let found: unknown = node;
  for (const key of path) {
    if (isMap(node) || isSeq(node)) {
      const next = node.get(key as never, true);
      if (next === undefined) break;
      node = next;
      found = next;
    } else break;
  }
  const range = (found as { range?: [number, number, number] } | undefined)?.range;
  return range ? counter.linePos(range[0]).line : undefined;
};

/**
 * Parses and validates a sluice.yaml. Every problem becomes a ConfigError that names the file,
 * the path inside it (with its line), and how to fix it.
 */
export const parseFleetConfig = (text: string, file = CONFIG_FILE): FleetConfig => {
  const config = parseYamlWith(fleetConfigSchema, text, file);
  checkReferences(config, file);
  checkWaves(config, file);
  checkDependsOn(config, file);
  return config;
};

/** apps[].dependsOn: names an app of this file, not itself, and no chain leads back to the app. */
const checkDependsOn = (config: FleetConfig, file: string): void => {
  const names = config.apps.map((a) => a.name);
  const edges = new Map(config.apps.map((a) => [a.name, a.dependsOn ?? []]));
  config.apps.forEach((app, i) => {
    (app.dependsOn ?? []).forEach((dep, j) => {
      const where = `apps[${i}].dependsOn[${j}]`;
      if (dep === app.name) {
        throw new ConfigError(
          file,
          where,
          `app "${app.name}" depends on itself`,
          `remove "${dep}" from its dependsOn`,
        );
      }
      if (!names.includes(dep)) {
        throw new ConfigError(
          file,
          where,
          `app "${app.name}" depends on "${dep}", which is not an app of this file`,
          `use one of ${names.filter((n) => n !== app.name).join(', ') || '(no other app)'}`,
        );
      }
    });
  });
  // Depth-first from each app: a path back to an app on the current chain is a cycle.
  const done = new Set<string>();
  const visit = (name: string, chain: string[]): void => {
    if (chain.includes(name)) {
      const cycle = [...chain.slice(chain.indexOf(name)), name];
      const i = names.indexOf(name);
      throw new ConfigError(
        file,
        `apps[${i}].dependsOn`,
        `apps depend on each other in a cycle: ${cycle.join(' -> ')}`,
        `remove one of these dependsOn entries so no app waits on itself`,
      );
    }
    if (done.has(name)) return;
    for (const dep of edges.get(name) ?? []) visit(dep, [...chain, name]);
    done.add(name);
  };
  for (const name of names) visit(name, []);
};

/**
 * Parses a YAML document against a schema (sluice.yaml, the trust policy). Every problem becomes
 * a ConfigError that names the file, the path inside it (with its line), and how to fix it.
 */
export const parseYamlWith = <S extends z.ZodType>(schema: S, text: string, file: string): z.output<S> => {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = counter.linePos(yamlError.pos[0]).line;
    throw new ConfigError(
      line ? `${file}:${line}` : file,
      '',
      `is not valid YAML (${yamlError.message.split('\n')[0]})`,
      'correct the YAML syntax at that line',
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (error) {
    // e.g. an alias to an anchor that does not exist: YAML that parses but cannot be resolved.
    throw new ConfigError(
      file,
      '',
      `is not valid YAML (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
      'correct the YAML (anchors and aliases must match)',
      error,
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const line = lineOf(doc, counter, issue.path);
    throw new ConfigError(
      line ? `${file}:${line}` : file,
      formatPath(issue.path),
      issue.message,
      fixFor(issue),
    );
  }
  return parsed.data;
};

const duplicates = (names: readonly string[]) => names.filter((n, i) => names.indexOf(n) !== i);

/** Cross-field rules a schema cannot express. */
const checkReferences = (config: FleetConfig, file: string): void => {
  const [dupTarget] = duplicates(config.targets.map((t) => t.name));
  if (dupTarget) {
    const i = config.targets.map((t) => t.name).lastIndexOf(dupTarget);
    throw new ConfigError(
      file,
      `targets[${i}].name`,
      `target name "${dupTarget}" is used twice`,
      'give every target a unique name',
    );
  }
  const [dupApp] = duplicates(config.apps.map((a) => a.name));
  if (dupApp) {
    const i = config.apps.map((a) => a.name).lastIndexOf(dupApp);
    throw new ConfigError(
      file,
      `apps[${i}].name`,
      `app name "${dupApp}" is used twice`,
      'give every app a unique name',
    );
  }
  const targetNames = new Set(config.targets.map((t) => t.name));
  config.apps.forEach((app, i) => {
    app.targets.names.forEach((name, j) => {
      if (!targetNames.has(name)) {
        throw new ConfigError(
          file,
          `apps[${i}].targets.names[${j}]`,
          `target "${name}" is not defined`,
          `use one of ${[...targetNames].join(', ')}`,
        );
      }
    });
    app.alarms.forEach((alarm, j) => {
      if (alarm.target && !targetNames.has(alarm.target)) {
        throw new ConfigError(
          file,
          `apps[${i}].alarms[${j}].target`,
          `target "${alarm.target}" is not defined`,
          `use one of ${[...targetNames].join(', ')}`,
        );
      }
    });
    const selected = selectTargets(app.targets, config.targets);
    if (Object.keys(app.environments).length > 0) {
      for (const target of selected) {
        const env = target.labels[app.environmentLabel];
        if (env === undefined || !app.environments[env]) {
          throw new ConfigError(
            file,
            `apps[${i}].environments`,
            `app "${app.name}" selects target "${target.name}" whose label ${app.environmentLabel}=${env ?? '(unset)'} has no environment`,
            `add environments.${env ?? '<name>'} to the app, or narrow its target selector`,
          );
        }
      }
    }
  });
};

export const matchesSelector = (selector: Selector, target: TargetConfig): boolean => {
  if (selector.names.length > 0 && !selector.names.includes(target.name)) return false;
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (target.labels[key] !== value) return false;
  }
  for (const expr of selector.matchExpressions) {
    const value = target.labels[expr.key];
    const ok =
      expr.operator === 'In'
        ? value !== undefined && expr.values.includes(value)
        : expr.operator === 'NotIn'
          ? value === undefined || !expr.values.includes(value)
          : expr.operator === 'Exists'
            ? value !== undefined
            : value === undefined;
    if (!ok) return false;
  }
  return true;
};

export const selectTargets = (selector: Selector, targets: readonly TargetConfig[]): TargetConfig[] =>
  targets.filter((t) => matchesSelector(selector, t));

/** The environment an app uses on a target, when the app declares environments. */
export const environmentFor = (app: AppConfig, target: TargetConfig): string | undefined =>
  Object.keys(app.environments).length > 0 ? target.labels[app.environmentLabel] : undefined;

/** True when a changed path lies inside the app (its directory, base or any overlay). */
export const appTouchedBy = (app: AppConfig, changedPath: string): boolean =>
  app.path === '.' || changedPath === app.path || changedPath.startsWith(`${app.path}/`);
