import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError, SluiceError } from '../../errors.ts';
import type { BundleStore } from '../../ports/index.ts';
import type { BundleRef } from '../../schemas/events.ts';
import { writeFileAtomic } from './json-file.ts';

/** Content-addressed bundles in a directory: `<root>/bundles/<sha256>.json`. */
export class FileBundleStore implements BundleStore {
  private readonly root: string;
  /** Failure injection for reliability tests: throw on put while set. */
  failWrites = false;

  constructor(root: string) {
    this.root = root;
  }

  async put(content: Uint8Array, meta: { objects: number }): Promise<BundleRef> {
    if (this.failWrites)
      throw new SluiceError('UNAVAILABLE', 'bundle store rejected the write', { retryable: true });
    const hex = createHash('sha256').update(content).digest('hex');
    const key = `bundles/${hex}.json`;
    const file = join(this.root, key);
    const exists = await stat(file).then(
      () => true,
      () => false,
    );
    if (!exists) await writeFileAtomic(file, content);
    return { key, digest: `sha256:${hex}`, size: content.byteLength, objects: meta.objects };
  }

  async get(ref: Pick<BundleRef, 'key' | 'digest'>): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(this.root, ref.key));
    } catch (error) {
      throw new NotFoundError(`bundle ${ref.key}`, { digest: ref.digest }, error);
    }
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== ref.digest) {
      throw new SluiceError(
        'DIGEST_MISMATCH',
        `bundle ${ref.key} has digest ${actual}, expected ${ref.digest}`,
        {
          data: { key: ref.key, expected: ref.digest, actual },
        },
      );
    }
    return bytes;
  }
}
