/**
 * Helm and Argo CD hooks in a GitOps render (docs/rendering.md#hooks-and-ordering). Sluice has
 * one lifecycle event, "apply this commit", so each hook maps onto a phase of that apply:
 * `pre` (helm pre-install/pre-upgrade, Argo CD PreSync) before the app's objects, `post`
 * (post-install/post-upgrade, PostSync) after them, `main` for everything else. Hooks of
 * events Sluice never has (helm test, delete and rollback hooks; Argo CD SyncFail and Skip) are
 * not deployed at all.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../ports/index.ts';

export type HookPhase = 'pre' | 'main' | 'post';

export interface Hook {
  phase: HookPhase;
  /** helm.sh/hook-weight or argocd.argoproj.io/sync-wave; 0 when unset. */
  weight: number;
  /** True when a helm or Argo CD hook annotation put the object in its phase. */
  isHook: boolean;
}

export const HELM_HOOK = 'helm.sh/hook';
export const ARGO_HOOK = 'argocd.argoproj.io/hook';

const annotation = (object: KubeObject, key: string): string | undefined => {
  const value = (object.metadata.annotations as Record<string, unknown> | undefined)?.[key];
  return typeof value === 'string' ? value : undefined;
};

const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const integer = (value: string | undefined): number => {
  const n = Number(value?.trim());
  return Number.isInteger(n) ? n : 0;
};

/**
 * The phase of an object, or `skip` when Sluice never deploys it. Unknown hook names are treated
 * as not deployed too: a hook for an event Sluice does not have must not run on every apply.
 */
export const hookOf = (object: KubeObject): Hook | 'skip' => {
  const helm = annotation(object, HELM_HOOK);
  const argo = annotation(object, ARGO_HOOK);
  const wave = integer(annotation(object, 'argocd.argoproj.io/sync-wave'));
  if (argo !== undefined) {
    const hooks = list(argo);
    if (hooks.includes('PreSync')) return { phase: 'pre', weight: wave, isHook: true };
    if (hooks.includes('Sync')) return { phase: 'main', weight: wave, isHook: true };
    if (hooks.includes('PostSync')) return { phase: 'post', weight: wave, isHook: true };
    return 'skip'; // SyncFail, Skip, PreDelete, PostDelete
  }
  if (helm !== undefined) {
    const hooks = list(helm);
    const weight = integer(annotation(object, 'helm.sh/hook-weight'));
    if (hooks.length === 0 || hooks.includes('crd-install'))
      return { phase: 'main', weight: wave, isHook: false };
    if (hooks.some((h) => h.startsWith('test'))) return 'skip';
    if (hooks.includes('pre-install') || hooks.includes('pre-upgrade'))
      return { phase: 'pre', weight, isHook: true };
    if (hooks.includes('post-install') || hooks.includes('post-upgrade'))
      return { phase: 'post', weight, isHook: true };
    return 'skip'; // pre/post-delete, pre/post-rollback
  }
  return { phase: 'main', weight: wave, isHook: false };
};

const PHASE_RANK: Record<HookPhase, number> = { pre: 1, main: 2, post: 3 };

/**
 * Where an object goes in the apply order: [stage, weight]. Namespaces and CRDs that are not
 * hooks come first (stage 0) so hooks can land in them; then pre hooks, the app's objects and
 * post hooks, each by weight (helm hook-weight, Argo CD sync-wave).
 */
export const applyStage = (object: KubeObject, kindRank: number): [number, number] => {
  const hook = hookOf(object);
  if (hook === 'skip') return [PHASE_RANK.post + 1, 0];
  if (!hook.isHook && hook.phase === 'main' && kindRank < 2) return [0, hook.weight];
  return [PHASE_RANK[hook.phase], hook.weight];
};

/**
 * A name for a `generateName` hook: the prefix and the first 10 hex digits of the sha256 of
 * its content. The same hook keeps its name (applying it again changes nothing); a changed hook
 * is a new object, created, as generateName would.
 */
export const generatedName = (object: KubeObject & { metadata: { generateName: string } }): string => {
  const { generateName, ...metadata } = object.metadata;
  const content = JSON.stringify({ ...object, metadata }, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
  return `${generateName}${createHash('sha256').update(content).digest('hex').slice(0, 10)}`;
};
