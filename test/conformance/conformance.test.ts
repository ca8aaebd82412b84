import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openBarePath } from '../../cli/commands/render.ts';
import { ensureTools } from '../../shared/adapters/render-tools/layer.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { encodeBundle, sha256Digest } from '../../shared/core/bundle.ts';
import { identityOf, renderApp } from '../../shared/core/render.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { kubectlReads } from './kubectl-reads.ts';

/**
 * The conformance corpus: every fixture under test/conformance/<name>/ lists cases in
 * conformance.json; each case is rendered by Sluice (exactly as `sluice render PATH` does) and by
 * the tool run directly, and the two must hold the same objects, field for field — as the API
 * server would receive them: the tool's output (or, for `directory`, the files themselves) is
 * read by the layer's kubectl (`kubectl annotate --local -o json -f -`, which decodes YAML with
 * sigs.k8s.io/yaml like `kubectl create --dry-run=client -o json`, but needs no server).
 */
interface Case {
  name: string;
  tool: 'kustomize' | 'helm' | 'directory';
  path: string;
  values?: string[];
}

const run = promisify(execFile);
const here = path.dirname(new URL(import.meta.url).pathname);
const fixtures = (await readdir(here, { withFileTypes: true, recursive: false }))
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .filter((name) => existsSync(path.join(here, name, 'conformance.json')));
const renderer = createToolRenderer();

const byIdentity = (objects: readonly KubeObject[]): Map<string, KubeObject> =>
  new Map(objects.map((o) => [identityOf(o), o]));

/** Helm hooks Sluice never deploys (docs/rendering.md#hooks-and-ordering): tests. */
const deployed = (object: KubeObject): boolean =>
  !/(^|,)\s*test(-success|-failure)?\s*(,|$)/.test(object.metadata.annotations?.['helm.sh/hook'] ?? '');

/** The tool on its own, as a user would run it: `kubectl kustomize DIR`, `helm template NAME DIR --include-crds -f …`. */
const direct = async (fixture: string, c: Case): Promise<KubeObject[]> => {
  const tools = await ensureTools();
  const dir = path.join(here, fixture, c.path);
  if (c.tool === 'directory') {
    const files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
    const texts = await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')));
    return kubectlReads(texts.join('\n---\n'));
  }
  const { stdout } =
    c.tool === 'kustomize'
      ? await run(tools.kubectl, ['kustomize', dir])
      : await run(tools.helm, [
          'template',
          path.basename(path.resolve(dir)),
          dir,
          '--include-crds',
          ...(c.values ?? []).flatMap((v) => ['--values', path.join(dir, v)]),
        ]);
  return (await kubectlReads(stdout)).filter(deployed);
};

describe('conformance: Sluice renders what the tools render', async () => {
  for (const fixture of fixtures) {
    const { cases } = JSON.parse(await readFile(path.join(here, fixture, 'conformance.json'), 'utf8')) as {
      cases: Case[];
    };
    for (const c of cases) {
      it(`${fixture}: ${c.name}`, async () => {
        // GIVEN a fixture directory rendered without any sluice.yaml
        const dir = path.join(here, fixture, c.path);
        const bare = await openBarePath(
          dir,
          (c.values ?? []).map((v) => path.join(dir, v)),
        );
        // WHEN Sluice renders it and the tool renders it directly
        const ours = byIdentity((await renderApp(bare.tree, bare.spec, renderer)).map((r) => r.object));
        const theirs = byIdentity(await direct(fixture, c));
        // THEN both hold the same identities, and each object is equal field for field
        expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
        for (const [id, object] of theirs) expect(ours.get(id), id).toEqual(object);
      });

      it(`${fixture}: ${c.name} renders twice to the same bundle digest`, async () => {
        // GIVEN the same fixture and values
        const dir = path.join(here, fixture, c.path);
        const bare = await openBarePath(
          dir,
          (c.values ?? []).map((v) => path.join(dir, v)),
        );
        // WHEN it is rendered twice into bundles
        const digest = async () =>
          sha256Digest(
            encodeBundle(await renderApp(bare.tree, bare.spec, renderer), { app: 'x', commit: 'c' }),
          );
        // THEN both have the same digest
        expect(await digest()).toBe(await digest());
      });
    }
  }
});
