import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { KubeSchemaSource, KubeSchemas } from '../../ports/index.ts';

/** shared/k8s-schemas: `<minor>.json.gz`, written by scripts/schemas/build.ts and committed. */
export const K8S_SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'k8s-schemas');

/**
 * Reads the vendored Kubernetes OpenAPI schemas from disk, once per version per process. Nothing
 * is downloaded: a version without a file is simply unknown (sluice.yaml only accepts vendored ones).
 */
export const fileK8sSchemas = (dir: string = K8S_SCHEMA_DIR): KubeSchemaSource => {
  const loaded = new Map<string, Promise<KubeSchemas | undefined>>();
  return {
    load(version) {
      let found = loaded.get(version);
      if (!found) {
        found = readFile(join(dir, `${version}.json.gz`)).then(
          (bytes) => JSON.parse(gunzipSync(bytes).toString('utf8')) as KubeSchemas,
          (error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return undefined;
            throw error;
          },
        );
        loaded.set(version, found);
      }
      return found;
    },
  };
};
