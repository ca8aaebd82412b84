/**
 * `sluice validate` as a use case: render every app once per declared environment (once when it
 * has none) and judge each render with the same policy verdict the render stage gives a push
 * (checkRender). Opening the directory and printing belong to the CLI; this sees only a tree.
 */
import type { KubeSchemaSource, SourceTree } from '../ports/index.ts';
import type { FleetConfig } from '../schemas/config.ts';
import type { RenderSpec, Violation } from '../schemas/events.ts';
import { checkRender, loadPolicyLayers } from './admission-layers.ts';
import { environmentFor, selectTargets } from './config.ts';
import { type RenderedObject, renderSpecForEnvironment } from './render.ts';

export interface ValidateDeps {
  /** The vendored Kubernetes schemas; without them the `schema` layer is skipped. */
  readonly schemas?: KubeSchemaSource;
  /** Renders one app of the tree (the render core with the host's tools and limits). */
  readonly render: (tree: SourceTree, spec: RenderSpec) => Promise<RenderedObject[]>;
}

/** A config repository (sluice.yaml read), or one bare kustomization, chart or YAML directory. */
export type ValidateInput =
  | { readonly kind: 'fleet'; readonly tree: SourceTree; readonly config: FleetConfig }
  | { readonly kind: 'bare'; readonly tree: SourceTree; readonly spec: RenderSpec };

export interface ValidateResult {
  apps: number;
  renders: number;
  objects: number;
  violations: Violation[];
}

export const validateRepo = async (deps: ValidateDeps, input: ValidateInput): Promise<ValidateResult> => {
  const layers = await loadPolicyLayers({ schemas: deps.schemas }, input.tree);
  if (input.kind === 'bare') {
    const rendered = await deps.render(input.tree, input.spec);
    const violations = await checkRender(layers, rendered, { disabled: [], targets: [] });
    return { apps: 1, renders: 1, objects: rendered.length, violations };
  }
  const { config, tree } = input;
  // A violation found in several environments is reported once.
  const seen = new Set<string>();
  const violations: Violation[] = [];
  let renders = 0;
  let objects = 0;
  for (const app of config.apps) {
    const environments = Object.keys(app.environments).sort();
    for (const environment of environments.length > 0 ? environments : [undefined]) {
      const spec = renderSpecForEnvironment(config, app, environment);
      const rendered = await deps.render(tree, spec);
      renders += 1;
      objects += rendered.length;
      const targets = selectTargets(app.targets, config.targets)
        .filter((t) => environmentFor(app, t) === environment)
        .map((t) => t.name);
      for (const v of await checkRender(layers, rendered, {
        disabled: spec.disabledPolicies,
        targets,
        substituted: spec.substitute !== undefined,
      })) {
        const key = JSON.stringify(v);
        if (seen.has(key)) continue;
        seen.add(key);
        violations.push(v);
      }
    }
  }
  return { apps: config.apps.length, renders, objects, violations };
};
