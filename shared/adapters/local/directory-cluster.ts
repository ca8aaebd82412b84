import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ATTRIBUTION_ANNOTATIONS } from '../../core/attribution.ts';
import { writeKubeYaml } from '../../core/kube-yaml.ts';
import { SluiceError } from '../../errors.ts';
import type {
  ApplyOptions,
  ApplyResult,
  ClusterClient,
  Inventory,
  KubeObject,
  LiveObject,
} from '../../ports/index.ts';
import { readFileInside, removeInside, safeJoin, writeFileInside } from '../safe-path.ts';
import { readJson } from './json-file.ts';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const APP_LABEL = 'sluice.dev/app';

const identity = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? '_cluster'}/${o.metadata.name}`;

/**
 * `<ns|_cluster>/<kind>.<name>.yaml`: one file per object, laid out like `kubectl get -A`. The
 * segments are joined by safe-path.ts, which refuses a name or namespace that would leave the target.
 */
export const objectPath = (o: KubeObject): [string, string] => [
  o.metadata.namespace ?? '_cluster',
  `${o.kind.toLowerCase()}.${o.metadata.name}.yaml`,
];

const pathOfIdentity = (id: string): [string, string] => {
  const [kind = '', ns = '_cluster', ...name] = id.split('/');
  return [ns, `${kind.toLowerCase()}.${name.join('/')}.yaml`];
};

/** Target files are readable by their owner only: a Secret holds resolved secret values. */
const OBJECT_FILE_MODE = 0o600;

/**
 * A target that is a directory: the local stand-in for a cluster. Objects carry Sluice's
 * ownership labels; the app's inventory lives in `.sluice/inventory/<app>.json` and is written
 * last, so a crash mid-apply is finished by the next delivery.
 */
export class DirectoryCluster implements ClusterClient {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  private inventorySegments(app: string): string[] {
    return ['.sluice', 'inventory', `${app}.json`];
  }

  async readInventory(app: string): Promise<Inventory | undefined> {
    return readJson<Inventory | undefined>(safeJoin(this.root, ...this.inventorySegments(app)), undefined);
  }

  async listInventories(): Promise<Inventory[]> {
    const files = await readdir(join(this.root, '.sluice', 'inventory')).catch(() => [] as string[]);
    const all = await Promise.all(files.map((f) => this.readInventory(f.replace(/\.json$/, ''))));
    return all.filter((i): i is Inventory => i !== undefined);
  }

  /** A directory has no controllers: what is written is healthy. */
  async readLive(): Promise<(LiveObject | undefined)[] | null> {
    return null;
  }

  /** Nothing edits a directory target behind Sluice's back that it could compare on managed fields. */
  async previewApply(): Promise<null> {
    return null;
  }

  async apply(app: string, objects: readonly KubeObject[], options: ApplyOptions): Promise<ApplyResult> {
    // A name or namespace that would leave the target is refused before anything is written.
    for (const object of objects) safeJoin(this.root, ...objectPath(object));
    const previous = await this.readInventory(app);
    let applied = 0;
    let unchanged = 0;
    for (const object of objects) {
      const owned: KubeObject = {
        ...object,
        metadata: {
          ...object.metadata,
          labels: { ...object.metadata.labels, [MANAGED_BY]: 'sluice', [APP_LABEL]: app },
        },
      };
      const segments = objectPath(owned);
      const text = writeKubeYaml(owned, { sortMapEntries: true });
      const existing = (await readFileInside(this.root, segments))?.toString('utf8');
      if (existing === text) {
        unchanged += 1;
        continue;
      }
      // Only the attribution annotations differ (a new release's stamp): written, counted unchanged.
      const restamp = existing !== undefined && unattributed(existing) === unattributed(text);
      const owner = existing === undefined ? undefined : ownerOf(existing);
      if (existing !== undefined && owner !== app) {
        throw new SluiceError(
          'OWNERSHIP_CONFLICT',
          `${identity(object)} on this target belongs to ${owner ? `app "${owner}"` : 'nobody Sluice manages'}, not "${app}"`,
          { data: { object: identity(object), owner: owner ?? null, app } },
        );
      }
      await writeFileInside(this.root, segments, text, { mode: OBJECT_FILE_MODE });
      if (restamp) unchanged += 1;
      else applied += 1;
    }
    let pruned = 0;
    const current = new Set(objects.map(identity));
    if ((options.prune || options.remove) && previous) {
      for (const id of previous.objects) {
        if (current.has(id)) continue;
        const segments = pathOfIdentity(id);
        const existing = (await readFileInside(this.root, segments).catch(() => undefined))?.toString('utf8');
        // Never delete what Sluice does not own for this app, even if an old inventory lists it.
        if (existing === undefined || ownerOf(existing) !== app) continue;
        await removeInside(this.root, segments);
        pruned += 1;
      }
    }
    const kept =
      options.prune || options.remove || !previous
        ? [...current]
        : [...new Set([...previous.objects, ...current])];
    const inventory: Inventory = {
      ...options.inventory,
      objects: kept.sort(),
      appliedAt: new Date().toISOString(),
    };
    await writeFileInside(this.root, this.inventorySegments(app), `${JSON.stringify(inventory, null, 2)}\n`);
    return { applied, unchanged, pruned };
  }
}

/** The YAML text without its attribution annotation lines (one `key: value` line each). */
const unattributed = (yamlText: string): string =>
  yamlText
    .split('\n')
    .filter((line) => !ATTRIBUTION_ANNOTATIONS.some((key) => line.trimStart().startsWith(`${key}:`)))
    .join('\n');

const ownerOf = (yamlText: string): string | undefined => {
  const match = /^\s+sluice\.dev\/app: (.+)$/m.exec(yamlText);
  return match?.[1]?.trim().replace(/^["']|["']$/g, '');
};
