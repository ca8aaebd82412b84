/**
 * `sluice import --from argocd|flux DIR`: reads the Argo CD Applications or Flux objects of a
 * repository and writes the sluice.yaml they amount to, listing what could not be mapped and why
 * (docs/migrate.md). Files that are not YAML manifests (chart templates) are skipped.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parse, parseAllDocuments } from 'yaml';
import { resolveKubeDocument, writeKubeYaml } from '../../shared/core/kube-yaml.ts';
import {
  type ImportFile,
  type ImportResult,
  importArgoCd,
  importFlux,
} from '../../shared/core/migrate/import.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { CONFIG_FILE } from '../../shared/schemas/config.ts';
import { cliTools, reportBadInput } from './render.ts';

const MAX_FILE_BYTES = 1024 * 1024;

const manifests = async (root: string, dir = root): Promise<string[]> => {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '.git' || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await manifests(root, full)));
    else if (entry.isFile() && /\.(ya?ml|json)$/i.test(entry.name)) out.push(full);
  }
  return out.sort();
};

const objectsOf = (text: string): KubeObject[] => {
  const objects: KubeObject[] = [];
  // A chart template is helm's input, not an object; an ApplicationSet's `{{param}}` are its own.
  if (text.includes('{{') && !/^kind:\s*ApplicationSet\b/m.test(text)) return objects;
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) return []; // not YAML: nothing to import
    resolveKubeDocument(doc);
    const value = doc.toJS() as unknown;
    const o = value as KubeObject;
    if (o && typeof o === 'object' && typeof o.kind === 'string' && typeof o.metadata?.name === 'string')
      objects.push(o);
  }
  return objects;
};

/** Reads every manifest of the repository at `dir` as import input. */
export const readImportFiles = async (dir: string): Promise<ImportFile[]> => {
  const all = await manifests(dir);
  const files: ImportFile[] = await applicationCharts(dir, all);
  for (const full of all) {
    if ((await stat(full)).size > MAX_FILE_BYTES) continue;
    const text = await readFile(full, 'utf8');
    const file = path.relative(dir, full).split(path.sep).join('/');
    let objects: KubeObject[] = [];
    let resources: string[] | undefined;
    try {
      if (/^kustomization\.ya?ml$/i.test(path.basename(full))) {
        const k = parse(text) as { resources?: unknown };
        resources = Array.isArray(k?.resources)
          ? k.resources.filter((r): r is string => typeof r === 'string')
          : [];
      } else objects = objectsOf(text);
    } catch {
      continue; // unreadable: not an object to import
    }
    files.push({ file, objects, ...(resources ? { resources } : {}) });
  }
  return files;
};

/**
 * Argo CD's own example repo keeps its app of apps as a chart whose templates are Applications:
 * such a chart is rendered once with the layer's helm (its default values) and its output read
 * as if each template were a file.
 */
const applicationCharts = async (dir: string, files: readonly string[]): Promise<ImportFile[]> => {
  const out: ImportFile[] = [];
  for (const chartFile of files.filter((f) => path.basename(f) === 'Chart.yaml')) {
    const chartDir = path.dirname(chartFile);
    const templates = files.filter((f) => f.startsWith(`${chartDir}${path.sep}templates${path.sep}`));
    const texts = await Promise.all(templates.map((f) => readFile(f, 'utf8')));
    if (!texts.some((t) => /argoproj\.io\//.test(t) && /kind:\s*Application\b/.test(t))) continue;
    const chart = path.relative(dir, chartDir).split(path.sep).join('/') || '.';
    const result = await cliTools().renderer.helmTemplate({
      root: dir,
      chart,
      releaseName: dns(path.basename(chartDir)),
      valueFiles: [],
      values: {},
      includeCrds: false,
      inputs: [chart],
    });
    if (!result.ok) continue; // a chart that does not render is listed by nothing: validate shows it
    for (const chunk of result.stdout.split(/^---[ \t]*$/m)) {
      const source = /^# Source: (.+)$/m.exec(chunk)?.[1]?.trim();
      if (!source) continue;
      const file = posixJoin(chart, source.split('/').slice(1).join('/'));
      out.push({ file, objects: objectsOf(chunk) });
    }
  }
  return out;
};

const dns = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '') || 'apps';
const posixJoin = (a: string, b: string) => (a === '.' ? b : `${a}/${b}`);

/** The sluice.yaml text of an import, with what was not mapped as comments on top. */
export const importText = (result: ImportResult, from: string): string => {
  const notes = result.unmapped.map((u) => `#   ${u.source}: ${u.field} — ${u.why}`);
  return [
    `# Imported from ${from} by \`sluice import\`. Review the targets: they stand for the clusters`,
    '# the source objects deployed to; give them their real cloud, region and cluster.',
    ...(notes.length > 0 ? ['# Not mapped:', ...notes] : ['# Every field was mapped.']),
    writeKubeYaml(result.config),
  ].join('\n');
};

export const importRepo = async (from: string, dir: string): Promise<ImportResult> => {
  const files = await readImportFiles(dir);
  if (from === 'argocd') return importArgoCd(files);
  if (from === 'flux') return importFlux(files);
  throw new BadInputError(`--from ${from}`, 'is not a known tool', 'use --from argocd or --from flux');
};

export const registerImport = (program: Command): void => {
  program
    .command('import')
    .description('Write a sluice.yaml from the Argo CD Applications or Flux objects of a repository')
    .argument('<dir>', 'the repository to read')
    .requiredOption('--from <tool>', 'argocd or flux')
    .option('--out <file>', `write here instead of stdout (e.g. DIR/${CONFIG_FILE})`)
    .action(async (dir: string, options: { from: string; out?: string }) => {
      try {
        const result = await importRepo(options.from, dir);
        const text = importText(result, options.from === 'flux' ? 'Flux' : 'Argo CD');
        if (options.out) await writeFile(options.out, text, { flag: 'wx' });
        else process.stdout.write(text);
        for (const u of result.unmapped)
          console.error(`sluice import: not mapped: ${u.source}: ${u.field} — ${u.why}`);
        console.error(
          `sluice import: ${result.config.apps.length} apps, ${result.unmapped.length} fields not mapped`,
        );
      } catch (error) {
        reportBadInput(dir, error);
      }
    });
};
