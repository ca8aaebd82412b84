/**
 * In-process adapters and sample events for the core tests of dispatch, report, release and
 * rollback: the real local ledger, bus, bundle store and claims, and an agent dispatcher that
 * keeps what it was handed (the local queue's job, without a consumer).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { MemoryIdempotencyStore } from '../../shared/adapters/local/memory.ts';
import { encodeBundle } from '../../shared/core/bundle.ts';
import type { RenderedObject } from '../../shared/core/render.ts';
import type { AgentDispatcher, Clock, GitSource, Ledger, SourceTree } from '../../shared/ports/index.ts';
import type {
  ApplyRequested,
  BundleRef,
  BundleVerified,
  DeploymentFailed,
  DeploymentSucceeded,
  TargetRef,
} from '../../shared/schemas/events.ts';

export const sha = (n: number): string => n.toString(16).padStart(40, '0');

export const target = (name: string): TargetRef => ({
  name,
  cloud: 'onprem',
  region: 'r1',
  agent: 'in-cluster',
});

/** A clock the test moves by hand. */
export const manualClock = (start = '2026-01-01T00:00:00.000Z') => {
  let now = Date.parse(start);
  const clock: Clock & { advance(ms: number): void; iso(): string } = {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
    iso: () => new Date(now).toISOString(),
  };
  return clock;
};

/** Everything an agent queue was handed, with what the ledger said at that moment. */
export const recordingAgents = (ledger: Ledger) => {
  const sent: { target: string; request: ApplyRequested; dedupId: string; ledgerState?: string }[] = [];
  const agents: AgentDispatcher = {
    send: async (t, message) => {
      const request = JSON.parse(message.body) as ApplyRequested;
      const record = await ledger.getDeployment(request.app, t.name);
      sent.push({
        target: t.name,
        request,
        dedupId: message.dedupId,
        ...(record ? { ledgerState: `${record.state}@${record.generation}` } : {}),
      });
    },
  };
  return { agents, sent };
};

/**
 * The config repo as commits of in-memory files. The real GitSource (isomorphic-git over HTTP) is
 * tested against a real git server; the release and rollback rules need only checkout.
 */
export const memoryGit = (commits: Record<string, Record<string, string>>): GitSource => ({
  head: async () => undefined,
  changedPaths: async () => undefined,
  isAncestor: async () => false,
  checkout: async (_url, _branch, commit): Promise<SourceTree> => {
    const files = commits[commit] ?? {};
    return {
      commit,
      root: '/memory',
      list: async (dir) =>
        Object.keys(files)
          .filter((f) => dir === '' || f.startsWith(`${dir}/`))
          .sort(),
      read: async (path) => files[path],
    };
  },
});

export const inProcess = async () => {
  const ledger = new FileLedger();
  const bus = new LocalEventBus();
  const bundles = new FileBundleStore(await mkdtemp(join(tmpdir(), 'sluice-core-')));
  const claims = new MemoryIdempotencyStore();
  const clock = manualClock();
  const { agents, sent } = recordingAgents(ledger);
  const published = (type: string) => bus.events.filter((e) => e['detail-type'] === type);
  return { ledger, bus, bundles, claims, clock, agents, sent, published };
};

/** A stored bundle of one ConfigMap whose data names `label`: distinct labels, distinct digests. */
export const storeBundle = async (
  bundles: FileBundleStore,
  label: string,
  commit: string,
): Promise<BundleRef> => {
  const objects: RenderedObject[] = [
    {
      file: 'apps/web/configmap.yaml',
      object: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'web', namespace: 'web' },
        data: { label },
      },
    },
  ];
  return bundles.put(encodeBundle(objects, { app: 'web', commit }), { objects: 1 });
};

export const bundleVerified = (
  generation: number,
  bundle: BundleRef,
  targets: string[],
  overrides: Partial<BundleVerified> = {},
): BundleVerified => ({
  schemaVersion: 1,
  traceId: `trace-${generation.toString().padStart(4, '0')}`,
  repo: 'acme/fleet',
  branch: 'main',
  commit: sha(generation),
  occurredAt: '2026-01-01T00:00:00.000Z',
  generation,
  app: 'web',
  bundle,
  targets: targets.map(target),
  sync: { prune: true, selfHeal: false },
  cached: false,
  ...overrides,
});

/** What every agent answer to `request` carries. */
const outcomeOf = (request: ApplyRequested, at: string) => ({
  schemaVersion: 1 as const,
  traceId: request.traceId,
  repo: request.repo,
  branch: request.branch,
  commit: request.commit,
  occurredAt: at,
  generation: request.generation,
  app: request.app,
  target: request.target.name,
  digest: request.bundle.digest,
  ...(request.rollbackOf ? { rollbackOf: request.rollbackOf } : {}),
});

/** The agent's answer to an Apply Requested that applied and became healthy. */
export const succeeded = (request: ApplyRequested, at: string): DeploymentSucceeded => ({
  ...outcomeOf(request, at),
  applied: 1,
  unchanged: 0,
  pruned: 0,
  durationMs: 5,
});

/** The agent's answer to an Apply Requested that did not become healthy. */
export const failed = (
  request: ApplyRequested,
  at: string,
  reason = 'HEALTH_DEADLINE',
): DeploymentFailed => ({
  ...outcomeOf(request, at),
  reason,
  message: 'web did not become ready in 300 s',
  objects: [],
});
