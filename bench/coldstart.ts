/**
 * coldstart: each function's bundle (functions/<name>/handler.ts, esbuild, ESM, minified, node22)
 * — its size beside the sources it pulls in, and its module-initialisation time in a fresh Node process (the median of several
 * `import()`s, each in its own process), beside importing the same handler unbundled from source.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { percentile } from './lib/load.ts';
import { emit, note } from './lib/report.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_COLDSTART_RUNS ?? 5);

/** Milliseconds to import `file` in a new process, as the process itself measures it. */
const importMs = async (file: string): Promise<number> => {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  return Number(stdout);
};

const median = async (file: string): Promise<number> => {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await importMs(file));
  return percentile(samples, 50);
};

const out = await mkdtemp(path.join(tmpdir(), 'sluice-bundles-'));
const functions = (await readdir(path.join(ROOT, 'functions'), { withFileTypes: true }))
  .filter((d) => d.isDirectory() && d.name !== 'commons')
  .map((d) => d.name)
  .sort();
note(`coldstart: bundling ${functions.join(', ')}`);
for (const name of functions) {
  const entry = path.join(ROOT, 'functions', name, 'handler.ts');
  const outfile = path.join(out, `${name}.mjs`);
  const result = await build({
    metafile: true,
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    logLevel: 'silent',
    // CommonJS dependencies in an ESM bundle call require(); Lambda's Node provides it this way.
    banner: { js: "import{createRequire}from'node:module';const require=createRequire(import.meta.url);" },
  });
  const size = (await stat(outfile)).size;
  const inputs = Object.values(result.metafile.inputs).reduce((sum, input) => sum + input.bytes, 0);
  const bundled = await median(outfile);
  const source = await median(entry);
  emit({
    bench: 'coldstart',
    figure: `${name}-init`,
    value: bundled,
    unit: 'ms',
    comparison: 'the same handler imported unbundled from source',
    comparisonValue: source,
    function: name,
    bundleBytes: size,
    runs: RUNS,
  });
  emit({
    bench: 'coldstart',
    figure: `${name}-bundle-size`,
    value: size / 1024,
    unit: 'KiB',
    comparison: 'the source files it bundles (its own and its dependencies), unminified',
    comparisonValue: inputs / 1024,
    function: name,
  });
}
await rm(out, { recursive: true, force: true });
