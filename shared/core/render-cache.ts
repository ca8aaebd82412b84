/**
 * The render cache: a render is a pure function of the files it reads, its spec and the tool
 * versions, so its output is stored under the sha256 of exactly those. An unchanged app (or ten
 * targets of one environment, or a retry) never runs kustomize or helm twice. Policy is not
 * cached: it runs on every render, cached or not.
 */
import { createHash } from 'node:crypto';
import type { ManifestRenderer, RenderCache, SourceTree } from '../ports/index.ts';
import type { RenderSpec } from '../schemas/events.ts';
import { canonicalJson } from './bundle.ts';
import {
  DEFAULT_RENDER_LIMITS,
  type RenderedObject,
  type RenderInputs,
  type RenderLimits,
  renderApp,
  renderInputs,
} from './render.ts';

/** Bumped whenever the renderer's output for the same inputs changes shape. */
export const RENDER_CACHE_FORMAT = 2; // 2: YAML 1.1 reading, hooks, List, cluster-scoped CRD kinds

export interface RenderCacheDeps {
  readonly renderer?: ManifestRenderer | undefined;
  readonly renderCache?: RenderCache | undefined;
  /** Bounds of one app's render, from the host's configuration (never from sluice.yaml). */
  readonly renderLimits?: RenderLimits | undefined;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** `path sha256` of every file the render reads, sorted: the app's tree hash. */
const inputDigests = async (tree: SourceTree, inputs: readonly string[]): Promise<string[]> => {
  const files = new Set<string>();
  for (const input of inputs) {
    const listed = await tree.list(input);
    if (listed.length > 0) for (const f of listed) files.add(f);
    else files.add(input);
  }
  const out: string[] = [];
  for (const file of [...files].sort()) {
    const text = await tree.read(file);
    out.push(`${file} ${text === undefined ? '-' : sha256(text)}`);
  }
  return out;
};

/**
 * The cache key of a render: (files it reads, spec, tool versions). Policy toggles and sync
 * options do not change the rendered objects and are left out.
 */
export const renderCacheKey = async (
  tree: SourceTree,
  spec: RenderSpec,
  prepared: RenderInputs,
  tools: string,
): Promise<string> => {
  const { disabledPolicies: _policies, sync: _sync, ...rendering } = spec;
  return sha256(
    canonicalJson({
      format: RENDER_CACHE_FORMAT,
      kind: prepared.kind,
      spec: rendering,
      tools: prepared.kind === 'directory' ? 'in-process' : tools,
      files: await inputDigests(tree, prepared.inputs),
    }),
  );
};

const decode = (bytes: Uint8Array): RenderedObject[] | undefined => {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return Array.isArray(value) ? (value as RenderedObject[]) : undefined;
  } catch {
    return undefined; // a damaged entry is a miss; the render overwrites it
  }
};

/** Renders through the cache when one is given; `cached` says whether the tools were skipped. */
export const renderCached = async (
  deps: RenderCacheDeps,
  tree: SourceTree,
  spec: RenderSpec,
): Promise<{ objects: RenderedObject[]; cached: boolean }> => {
  const limits = deps.renderLimits ?? DEFAULT_RENDER_LIMITS;
  const prepared = await renderInputs(tree, spec, limits);
  if (!deps.renderCache)
    return { objects: await renderApp(tree, spec, deps.renderer, prepared, limits), cached: false };
  const tools = prepared.kind === 'directory' || !deps.renderer ? '' : await deps.renderer.versions();
  const key = await renderCacheKey(tree, spec, prepared, tools);
  const hit = await deps.renderCache.get(key);
  const objects = hit && decode(hit);
  if (objects) return { objects, cached: true };
  const rendered = await renderApp(tree, spec, deps.renderer, prepared, limits);
  await deps.renderCache.put(key, new TextEncoder().encode(JSON.stringify(rendered)));
  return { objects: rendered, cached: false };
};
