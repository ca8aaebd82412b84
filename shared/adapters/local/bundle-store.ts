import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError, NotFoundError, SluiceError } from '../../errors.ts';
import type { BundleStore } from '../../ports/index.ts';
import { printable } from '../../printable.ts';
import type { BundleRef } from '../../schemas/events.ts';
import { safeJoinRelative } from '../safe-path.ts';
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
    // The key arrives in a message: only `bundles/<sha256>.json` names a bundle, nothing else is read.
    if (!/^bundles\/[0-9a-f]{64}\.json$/.test(ref.key)) {
      throw new BadInputError(
        `bundle key "${printable(ref.key)}"`,
        'is not bundles/<sha256>.json',
        'send the key put() returned',
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = await readFile(safeJoinRelative(this.root, ref.key));
    } catch (error) {
      throw new NotFoundError(`bundle ${ref.key}`, { digest: ref.digest }, error);
    }
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== ref.digest) {
      throw new SluiceError(
        'DIGEST_MISMATCH',
        `bundle ${ref.key} has digest ${actual}, expected ${ref.digest}; it was altered after it was written. Fix: re-render the release so a fresh bundle is stored, and find out who can write to ${this.root}`,
        {
          data: { key: ref.key, expected: ref.digest, actual },
        },
      );
    }
    return bytes;
  }
}
