/**
 * The objects of Argo CD and Flux themselves. Sluice runs neither controller, so applied to a
 * cluster they would sit there inert (or, worse, be picked up by a controller still running):
 * a render refuses them and points at `sluice import` (docs/migrate.md).
 */
import type { KubeObject } from '../../ports/index.ts';

const GROUPS: Readonly<Record<string, 'Argo CD' | 'Flux'>> = {
  'argoproj.io': 'Argo CD',
  'kustomize.toolkit.fluxcd.io': 'Flux',
  'helm.toolkit.fluxcd.io': 'Flux',
  'source.toolkit.fluxcd.io': 'Flux',
};

/** Argo CD's own kinds (argoproj.io also serves Argo Workflows and Rollouts, which are fine). */
const ARGO_KINDS = new Set(['Application', 'ApplicationSet', 'AppProject']);

/** `Argo CD` or `Flux` when the object is one of their controllers' own objects. */
export const gitopsToolOf = (object: KubeObject): 'Argo CD' | 'Flux' | undefined => {
  const group = object.apiVersion.includes('/')
    ? object.apiVersion.slice(0, object.apiVersion.indexOf('/'))
    : '';
  const tool = GROUPS[group];
  if (tool === 'Argo CD' && !ARGO_KINDS.has(object.kind)) return undefined;
  return tool;
};
