import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { safeJoin, writeFileInside } from '../../shared/adapters/safe-path.ts';
import { readRenderLimits } from '../../shared/config/env.ts';
import { parseFleetConfig, selectTargets } from '../../shared/core/config.ts';
import { writeKubeYaml } from '../../shared/core/kube-yaml.ts';
import {
  type RenderedObject,
  type RenderLimits,
  renderApp,
  renderSpecFor,
} from '../../shared/core/render.ts';
import { BadInputError, isSluiceError } from '../../shared/errors.ts';
import type { ManifestRenderer, SourceTree } from '../../shared/ports/index.ts';
import { CONFIG_FILE, type FleetConfig } from '../../shared/schemas/config.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';

let tools: { renderer: ManifestRenderer; limits: RenderLimits } | undefined;

/**
 * The CLI's tools and bounds: the layer's kubectl and helm (unpacked on first use) and the
 * SLUICE_RENDER_* limits of this host (docs/security.md#limits), read when first needed.
 */
export const cliTools = (): { renderer: ManifestRenderer; limits: RenderLimits } => {
  if (!tools) {
    const limits = readRenderLimits();
    tools = { renderer: createToolRenderer(limits.tools), limits: limits.render };
  }
  return tools;
};

/** renderApp with the CLI's tools and bounds. */
export const renderWithCliTools = (tree: SourceTree, spec: RenderSpec): Promise<RenderedObject[]> =>
  renderApp(tree, spec, cliTools().renderer, undefined, cliTools().limits);

export interface ConfigRepo {
  dir: string;
  tree: SourceTree;
  config: FleetConfig;
}

/** Opens a config repository on disk: the directory must exist and hold a valid sluice.yaml. */
export const loadConfigRepo = async (dir: string): Promise<ConfigRepo> => {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new BadInputError(
      `directory "${dir}"`,
      info ? 'is not a directory' : 'does not exist',
      `pass the path of a config repository (the directory holding ${CONFIG_FILE})`,
    );
  }
  const tree = createDirectoryTree(dir);
  const file = path.join(dir, CONFIG_FILE);
  const text = await tree.read(CONFIG_FILE);
  if (text === undefined) {
    throw new BadInputError(
      `directory "${dir}"`,
      `has no ${CONFIG_FILE}`,
      `pass the root of a config repository, or create ${file} (see examples/fleet/${CONFIG_FILE})`,
    );
  }
  return { dir, tree, config: parseFleetConfig(text, file) };
};

/** Prints a SluiceError (which names file, path and fix) and marks the run as bad input. */
export const reportBadInput = (dir: string, error: unknown): void => {
  if (!isSluiceError(error)) throw error;
  const where = error.code === 'RENDER_FAILED' ? ` (rendering ${dir})` : '';
  console.error(`sluice: ${error.message}${where}`);
  process.exitCode = 2;
};

const objectYaml = (rendered: RenderedObject): string => writeKubeYaml(rendered.object);

const toYaml = (rendered: RenderedObject, app: string, target: string): string =>
  `---\n# Source: app=${app} target=${target} file=${rendered.file}\n${objectYaml(rendered)}`;

interface RenderOptions {
  app?: string;
  target?: string;
  values?: string[];
  out?: string;
}

/** The git work tree holding `dir` (so `../base` references resolve), else `dir` itself. */
const repoRootOf = async (dir: string): Promise<string> => {
  let current = path.resolve(dir);
  for (;;) {
    if (await stat(path.join(current, '.git')).catch(() => undefined)) return current;
    const parent = path.dirname(current);
    if (parent === current) return path.resolve(dir);
    current = parent;
  }
};

export interface BarePath {
  tree: SourceTree;
  spec: RenderSpec;
}

/**
 * A directory without sluice.yaml, as `kubectl kustomize PATH` or `helm template PATH` take it:
 * a kustomization, a chart (with `--values` files) or plain YAML, detected like an app's kind.
 */
export const openBarePath = async (dir: string, valueFiles: readonly string[] = []): Promise<BarePath> => {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new BadInputError(
      `directory "${dir}"`,
      info ? 'is not a directory' : 'does not exist',
      `pass the path of a config repository (the directory holding ${CONFIG_FILE}), or a kustomization, chart or YAML directory`,
    );
  }
  const root = await repoRootOf(dir);
  const appPath = path.relative(root, path.resolve(dir)).split(path.sep).join('/') || '.';
  const values = valueFiles.map((file) => {
    const relative = path.relative(path.resolve(dir), path.resolve(file)).split(path.sep).join('/');
    if (path.relative(root, path.resolve(file)).startsWith('..')) {
      throw new BadInputError(
        `--values ${file}`,
        `is outside ${root}`,
        'keep values files inside the repository',
      );
    }
    return relative;
  });
  const name =
    path
      .basename(path.resolve(dir))
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 63) // an app name is a DNS label
      .replace(/^-+|-+$/g, '') || 'app';
  return {
    tree: createDirectoryTree(root),
    spec: {
      app: name,
      path: appPath,
      values: {},
      disabledPolicies: [],
      sync: { prune: true, selfHeal: false },
      ...(values.length > 0 ? { valueFiles: values } : {}),
    },
  };
};

const fileNameOf = (rendered: RenderedObject): string => {
  const { kind, metadata } = rendered.object;
  return `${[kind, metadata.namespace, metadata.name].filter(Boolean).join('.').toLowerCase()}.yaml`;
};

const emit = async (out: string[], written: RenderedObject[], options: RenderOptions): Promise<void> => {
  if (options.out === undefined) {
    process.stdout.write(out.join(''));
    return;
  }
  // Every name is checked before the first write: an object named `../x` fails the whole --out.
  for (const rendered of written) safeJoin(options.out, fileNameOf(rendered));
  for (const rendered of written) {
    await writeFileInside(options.out, [fileNameOf(rendered)], objectYaml(rendered));
  }
  console.error(`sluice: wrote ${written.length} object(s) to ${options.out}`);
};

const render = async (dir: string, options: RenderOptions): Promise<void> => {
  if ((await stat(path.join(dir, CONFIG_FILE)).catch(() => undefined)) === undefined) {
    const bare = await openBarePath(dir, options.values);
    const objects = await renderWithCliTools(bare.tree, bare.spec);
    await emit(
      objects.map((o) => `---\n# Source: ${o.file}\n${objectYaml(o)}`),
      objects,
      options,
    );
    return;
  }
  const { tree, config } = await loadConfigRepo(dir);
  const apps = options.app === undefined ? config.apps : config.apps.filter((a) => a.name === options.app);
  if (apps.length === 0) {
    throw new BadInputError(
      options.app === undefined ? `${CONFIG_FILE}` : `--app ${options.app}`,
      options.app === undefined ? 'declares no apps' : 'is not an app of this fleet',
      options.app === undefined
        ? 'add an app under apps:'
        : `use one of ${config.apps.map((a) => a.name).join(', ')}`,
    );
  }
  if (options.target !== undefined && !config.targets.some((t) => t.name === options.target)) {
    throw new BadInputError(
      `--target ${options.target}`,
      'is not a target of this fleet',
      `use one of ${config.targets.map((t) => t.name).join(', ')}`,
    );
  }
  const cache = new Map<string, RenderedObject[]>();
  const out: string[] = [];
  const written: RenderedObject[] = [];
  let pairs = 0;
  for (const app of apps) {
    const targets = selectTargets(app.targets, config.targets).filter(
      (t) => options.target === undefined || t.name === options.target,
    );
    for (const target of targets) {
      pairs += 1;
      const spec = renderSpecFor(config, app, target);
      const key = JSON.stringify(spec);
      let objects = cache.get(key);
      if (!objects) {
        objects = await renderWithCliTools(tree, spec);
        cache.set(key, objects);
      }
      for (const rendered of objects) out.push(toYaml(rendered, app.name, target.name));
      written.push(...objects);
    }
  }
  if (pairs === 0) {
    throw new BadInputError(
      [options.app && `--app ${options.app}`, options.target && `--target ${options.target}`]
        .filter(Boolean)
        .join(' '),
      'selects no (app, target) pair: the app does not select that target',
      "drop a flag, or widen the app's targets selector in sluice.yaml",
    );
  }
  if (options.out !== undefined && (apps.length > 1 || pairs > 1)) {
    throw new BadInputError('--out', 'needs exactly one (app, target) pair', 'add --app and --target');
  }
  await emit(out, written, options);
};

export const registerRender = (program: Command): void => {
  program
    .command('render')
    .description(
      'Render a config repository as each target would receive it, or a bare kustomization, chart or YAML directory',
    )
    .argument('<dir>', `config repository (holding ${CONFIG_FILE}), kustomization, chart or YAML directory`)
    .option('--app <name>', 'only this app (default: every app)')
    .option('--target <name>', 'only this target (default: every target the app selects)')
    .option(
      '--values <file>',
      'helm values file for a bare chart directory (repeatable, layered in order)',
      (file: string, all: string[] = []) => [...all, file],
    )
    .option('--out <dir>', 'write one file per object into this directory instead of stdout')
    .action(async (dir: string, options: RenderOptions) => {
      try {
        await render(dir, options);
      } catch (error) {
        reportBadInput(dir, error);
      }
    });
};
