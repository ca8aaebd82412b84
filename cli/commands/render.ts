import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { parseFleetConfig, selectTargets } from '../../shared/core/config.ts';
import { type RenderedObject, renderApp, renderSpecFor } from '../../shared/core/render.ts';
import { BadInputError, isSluiceError } from '../../shared/errors.ts';
import type { SourceTree } from '../../shared/ports/index.ts';
import { CONFIG_FILE, type FleetConfig } from '../../shared/schemas/config.ts';

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
  const where = error.code === 'RENDER_FAILED' ? ` (in config repository ${dir})` : '';
  console.error(`sluice: ${error.message}${where}`);
  process.exitCode = 2;
};

const toYaml = (rendered: RenderedObject, app: string, target: string): string =>
  `---\n# Source: app=${app} target=${target} file=${rendered.file}\n${stringify(rendered.object, {
    lineWidth: 0,
    aliasDuplicateObjects: false,
  })}`;

interface RenderOptions {
  app?: string;
  target?: string;
}

const render = async (dir: string, options: RenderOptions): Promise<void> => {
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
        objects = await renderApp(tree, spec);
        cache.set(key, objects);
      }
      for (const rendered of objects) out.push(toYaml(rendered, app.name, target.name));
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
  process.stdout.write(out.join(''));
};

export const registerRender = (program: Command): void => {
  program
    .command('render')
    .description('Render the manifests of a config repository, as each target would receive them')
    .argument('<dir>', `config repository (the directory holding ${CONFIG_FILE})`)
    .option('--app <name>', 'only this app (default: every app)')
    .option('--target <name>', 'only this target (default: every target the app selects)')
    .action(async (dir: string, options: RenderOptions) => {
      try {
        await render(dir, options);
      } catch (error) {
        reportBadInput(dir, error);
      }
    });
};
