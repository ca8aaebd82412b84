import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../../errors.ts';
import type { RenderCache } from '../../ports/index.ts';
import { printable } from '../../printable.ts';
import { safeJoin } from '../safe-path.ts';
import { writeFileAtomic } from './json-file.ts';

/** Render cache entries as files: `<root>/render-cache/<key>.json`, beside the bundles. */
export class FileRenderCache implements RenderCache {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'render-cache');
  }

  private file(key: string): string {
    if (!/^[0-9a-f]{64}$/.test(key)) {
      throw new BadInputError(
        `render cache key "${printable(key)}"`,
        'is not 64 hex digits',
        'pass the sha256 renderCacheKey computed',
      );
    }
    return safeJoin(this.dir, `${key}.json`);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.file(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async put(key: string, content: Uint8Array): Promise<void> {
    await writeFileAtomic(this.file(key), content);
  }
}
