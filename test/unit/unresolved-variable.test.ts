// biome-ignore-all lint/suspicious/noTemplateCurlyInString: literal Flux placeholders are what these tests are about
import { describe, expect, it } from 'vitest';
import { formatViolation, toSarif } from '../../cli/commands/validate.ts';
import { EMPTY_ADMISSION } from '../../shared/core/admission.ts';
import { checkRender, type PolicyLayers } from '../../shared/core/admission-layers.ts';
import type { RenderedObject } from '../../shared/core/render.ts';

/** No schemas, no config, no admission policies: only the built-in pack and the warnings. */
const layers: PolicyLayers = {
  source: undefined,
  config: undefined,
  crds: new Map(),
  admission: EMPTY_ADMISSION,
};

const configMap = (data: Record<string, string>): RenderedObject => ({
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'web' }, data },
  file: 'apps/web/settings.yaml',
});

describe('a literal ${VAR} left in the output', () => {
  it('is a warning naming the field when the app sets no substitute:', async () => {
    // GIVEN a ConfigMap written for Flux post-build substitution, rendered without substitute:
    const objects = [configMap({ cluster: '${CLUSTER_NAME}', tier: '${TIER:=standard}', plain: 'x' })];
    // WHEN judged THEN one warning names the object, the field and the placeholder
    expect(await checkRender(layers, objects, { disabled: [], targets: [] })).toEqual([
      {
        policy: 'unresolved-variable',
        object: 'ConfigMap/web/settings',
        file: 'apps/web/settings.yaml',
        message: 'data.cluster holds ${CLUSTER_NAME}, deployed literally: the app sets no substitute:',
        fix: "if it is a Flux post-build variable, give its value in the app's substitute: (docs/rendering.md); if it is meant literally (a shell script), nothing to do",
        severity: 'warning',
      },
    ]);
  });

  it('is not reported for an app with substitute: (what is left was escaped with $${})', async () => {
    const objects = [configMap({ script: 'echo ${HOME}' })];
    expect(await checkRender(layers, objects, { disabled: [], targets: [], substituted: true })).toEqual([]);
  });

  it('ignores a lone $ or $VAR without braces', async () => {
    const objects = [configMap({ price: '$5', shell: 'echo $HOME' })];
    expect(await checkRender(layers, objects, { disabled: [], targets: [] })).toEqual([]);
  });

  it('is printed as a warning and is a SARIF warning, not an error', async () => {
    const [warning] = await checkRender(layers, [configMap({ cluster: '${CLUSTER_NAME}' })], {
      disabled: [],
      targets: [],
    });
    expect(formatViolation(warning!)).toMatch(/^warning: unresolved-variable {2}ConfigMap\/web\/settings/);
    const sarif = toSarif([warning!]) as { runs: { results: { level: string; ruleId: string }[] }[] };
    expect(sarif.runs[0]!.results).toEqual([
      expect.objectContaining({ ruleId: 'unresolved-variable', level: 'warning' }),
    ]);
  });
});
