/**
 * The API server's reading of manifests, for the conformance suites: the layer's kubectl decodes
 * YAML with sigs.k8s.io/yaml exactly as `kubectl create --dry-run=client -o json` does, but
 * `annotate --local` needs no server.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureTools } from '../../shared/adapters/render-tools/layer.ts';
import type { KubeObject } from '../../shared/ports/index.ts';

const here = path.dirname(new URL(import.meta.url).pathname);

/**
 * Objects as kubectl reads `text`: removing an annotation nobody has makes `annotate` a pure
 * read-and-print; the empty `annotations: {}` it leaves behind is dropped again.
 */
export const kubectlReads = async (text: string): Promise<KubeObject[]> => {
  const { kubectl } = await ensureTools();
  const result = spawnSync(
    kubectl,
    ['annotate', '--local', '-o', 'json', '-f', '-', 'sluice.dev/conformance-probe-'],
    { input: text, encoding: 'utf8', env: { PATH: '', HOME: here, KUBECONFIG: path.join(here, 'none') } },
  );
  if (result.status !== 0) throw new Error(`kubectl could not read the manifests: ${result.stderr}`);
  return result.stdout
    .split(/^\}$/m)
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => {
      const object = JSON.parse(`${chunk}}`) as KubeObject;
      const annotations = object.metadata.annotations;
      if (annotations && Object.keys(annotations).length === 0) delete object.metadata.annotations;
      return object;
    });
};
