/**
 * `npm run bench`: runs every benchmark in its own Node process, one after another (so one
 * bench's leftovers never slow the next), passes their JSON lines through to stdout, and prints
 * a table of the figures on stderr at the end. `npm run bench -- burst fanout` runs a subset.
 * Sizes can be scaled down with the BENCH_* variables each bench documents (docs/performance.md).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '..');
const BENCHES = ['ingest', 'burst', 'monorepo', 'fanout', 'latency', 'coldstart', 'scale', 'cost', 'peers'];
/** Benches measured by more than one file: latency and scale in process, then on the emulator (LocalStack). */
const FILES: Record<string, string[]> = {
  latency: ['latency.ts', 'latency-aws.ts'],
  scale: ['scale.ts', 'scale-aws.ts'],
};

const runLines = (command: string, args: string[]): Promise<Record<string, unknown>[]> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const figures: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed && typeof parsed === 'object' && 'bench' in parsed)
          figures.push(parsed as Record<string, unknown>);
      } catch {
        // Not a figure (a bench of someone else's may print prose); passed through as is.
      }
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(figures)
        : reject(new Error(`${[command, ...args].join(' ')} exited with ${code}`)),
    );
  });

const selected = process.argv.slice(2).filter((a) => !a.startsWith('-'));
/** Options such as `--apps=100` are passed to every selected bench; each reads the ones it knows. */
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const unknown = selected.filter((b) => !BENCHES.includes(b) && b !== 'render');
if (unknown.length > 0) {
  console.error(`unknown bench ${unknown.join(', ')}; choose from ${[...BENCHES, 'render'].join(', ')}`);
  process.exit(2);
}
const figures: Record<string, unknown>[] = [];
const failed: string[] = [];
for (const bench of BENCHES.filter((b) => selected.length === 0 || selected.includes(b))) {
  process.stderr.write(`bench ${bench}\n`);
  try {
    for (const file of FILES[bench] ?? [`${bench}.ts`]) {
      figures.push(...(await runLines(process.execPath, [path.join('bench', file), ...flags])));
    }
  } catch (error) {
    failed.push(bench);
    process.stderr.write(`bench ${bench} failed: ${(error as Error).message}\n`);
  }
}
// The render benchmarks (bench/render*.ts) belong to the render issue and have their own script.
const scripts = (
  JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;
if (scripts['bench:render'] && (selected.length === 0 || selected.includes('render'))) {
  process.stderr.write('bench render (npm run bench:render)\n');
  try {
    figures.push(...(await runLines('npm', ['run', '--silent', 'bench:render'])));
  } catch (error) {
    failed.push('render');
    process.stderr.write(`bench render failed: ${(error as Error).message}\n`);
  }
}

const cell = (v: unknown) => (typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v ?? ''));
const rows = figures.map((f) =>
  [f.bench, f.figure, f.value, f.unit, f.comparison, f.comparisonValue, f.ratio].map(cell),
);
const header = ['bench', 'figure', 'value', 'unit', 'comparison', 'comparison value', 'ratio'];
process.stderr.write(`\n| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|\n`);
for (const row of rows) process.stderr.write(`| ${row.join(' | ')} |\n`);
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exit(1);
}
