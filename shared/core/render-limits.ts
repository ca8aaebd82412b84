/**
 * What one app's render may cost. The bounds protect the render host from a push, so they come
 * from the host (deployment config, environment, CLI), never from sluice.yaml. Kept apart from
 * render.ts so that the settings reader can import them without the renderer.
 * docs/security.md#limits lists them.
 */
export interface RenderLimits {
  /** Bytes of one manifest file (plain YAML, a kustomization, a Chart.yaml). */
  readonly maxFileBytes: number;
  /** Objects one app renders to. */
  readonly maxObjects: number;
  /** Bytes of one app's rendered output (tool output, or the objects as JSON). */
  readonly maxRenderedBytes: number;
  /** YAML alias resolutions per document (yaml's maxAliasCount): stops "billion laughs". */
  readonly maxAliasCount: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = {
  maxFileBytes: 4 * 1024 * 1024,
  maxObjects: 2_000,
  maxRenderedBytes: 32 * 1024 * 1024,
  maxAliasCount: 100,
};

/** One kubectl or helm run: wall time, virtual memory (`ulimit -v`), stdout bytes. */
export interface ToolLimits {
  readonly timeoutMs: number;
  readonly memoryBytes: number;
  readonly maxOutputBytes: number;
}

export const DEFAULT_TOOL_LIMITS: ToolLimits = {
  timeoutMs: 60_000,
  // Virtual memory: Go reserves ~750 MiB of address space at start, so 2 GiB leaves ~1.2 GiB of heap.
  memoryBytes: 2048 * 1024 * 1024,
  maxOutputBytes: DEFAULT_RENDER_LIMITS.maxRenderedBytes,
};

/**
 * kubectl 1.34 and helm 4.1 do not start below ~800 MiB of virtual memory (measured with
 * `ulimit -v`); 1 GiB leaves them ~200 MiB of heap.
 */
export const MIN_TOOL_MEMORY_BYTES = 1024 * 1024 * 1024;
