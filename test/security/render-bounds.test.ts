/**
 * Issue 11, item 8 (render): manifest file size, objects and rendered bytes per app, YAML alias
 * expansion, and the time, memory and output of each kubectl/helm run are bounded, and each
 * bound is answered with a RenderError naming the file and the limit. Real tools, real processes.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { DEFAULT_RENDER_LIMITS, type RenderLimits, renderApp } from '../../shared/core/render.ts';
import { waitFor } from '../support/wait.ts';
import { aliasBomb, configMap, type Sandbox, sandbox, specOf } from './render-support.ts';

const boxes: Sandbox[] = [];
const box = (files: Record<string, string>) => {
  const b = sandbox();
  boxes.push(b);
  b.write(files);
  return b;
};
afterAll(() => {
  for (const b of boxes) b.cleanup();
});

const failure = async (run: () => Promise<unknown>): Promise<string> => {
  try {
    await run();
  } catch (error) {
    return (error as Error).message;
  }
  return 'rendered';
};

const limits = (over: Partial<RenderLimits>): RenderLimits => ({ ...DEFAULT_RENDER_LIMITS, ...over });

describe('bounds of what a push can make the render host do', () => {
  it('stops a YAML alias bomb with a RenderError naming the file', async () => {
    const b = box({ 'app/bomb.yaml': aliasBomb(), 'app/ok.yaml': configMap('ok') });
    const message = await failure(() => renderApp(b.tree(), specOf('web', 'app')));
    expect(message).toMatch(/^app\/bomb\.yaml: cannot be read as YAML \(Excessive alias count/);
    expect(message).toContain('more than 100 nodes');
  });

  it('refuses a manifest file over the size limit', async () => {
    const b = box({ 'app/big.yaml': configMap('big', `  pad: "${'x'.repeat(5000)}"\n`) });
    const message = await failure(() =>
      renderApp(b.tree(), specOf('web', 'app'), undefined, undefined, limits({ maxFileBytes: 4096 })),
    );
    expect(message).toMatch(/^app\/big\.yaml: is \d+ bytes, over the limit of 4096 bytes per manifest file/);
    expect(message).toContain('SLUICE_RENDER_MAX_FILE_BYTES');
  });

  it('refuses an app with more objects, or more rendered bytes, than its limits', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 5; i++) files[`app/cm-${i}.yaml`] = configMap(`cm-${i}`);
    const b = box(files);
    const objects = await failure(() =>
      renderApp(b.tree(), specOf('web', 'app'), undefined, undefined, limits({ maxObjects: 3 })),
    );
    expect(objects).toMatch(/^app: app "web" renders 5 objects, over the limit of 3 per app/);
    const bytes = await failure(() =>
      renderApp(b.tree(), specOf('web', 'app'), undefined, undefined, limits({ maxRenderedBytes: 200 })),
    );
    expect(bytes).toMatch(/^app: app "web" renders \d+ bytes, over the limit of 200 bytes per app/);
  });

  it('kills a tool run past its time bound together with every process it started', async () => {
    // GIVEN a "kubectl" that starts a grandchild and hangs (real processes, not a mock)
    const b = box({ 'app/kustomization.yaml': 'resources: []\n' });
    const pidFile = path.join(b.dir, 'grandchild.pid');
    const hang = path.join(b.dir, 'hang.sh');
    writeFileSync(hang, `#!/bin/sh\n/bin/sleep 300 &\necho $! > ${pidFile}\nexec /bin/sleep 300\n`);
    chmodSync(hang, 0o755);
    const renderer = createToolRenderer({ binaries: { kubectl: hang, helm: hang }, timeoutMs: 1500 });
    // WHEN the app is rendered
    const message = await failure(() => renderApp(b.tree(), specOf('web', 'app'), renderer));
    // THEN it fails with the time bound, naming the kustomization
    expect(message).toMatch(
      /^app\/kustomization\.yaml: kustomize failed: hang\.sh did not finish within 1\.5 s/,
    );
    // AND the grandchild was killed with its group (gone, or a zombie awaiting its reaper)
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor('the grandchild to die', async () => {
      const stat = `/proc/${pid}/stat`;
      if (!existsSync(stat)) return true;
      return readFileSync(stat, 'utf8').split(') ')[1]?.startsWith('Z') ? true : undefined;
    });
  });

  it('stops a helm run at its memory bound and at its output bound', async () => {
    const b = box({
      'hungry/Chart.yaml': 'apiVersion: v2\nname: hungry\nversion: 0.1.0\n',
      'hungry/templates/cm.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: {{ repeat 1000000000 "x" | len | quote }}\n',
      'chatty/Chart.yaml': 'apiVersion: v2\nname: chatty\nversion: 0.1.0\n',
      'chatty/templates/cm.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: {{ repeat 50000 "x" | quote }}\n',
    });
    const renderer = createToolRenderer({ memoryBytes: 1024 * 1024 * 1024, maxOutputBytes: 10_000 });
    const memory = await failure(() => renderApp(b.tree(), specOf('web', 'hungry'), renderer));
    expect(memory).toMatch(
      /^hungry\/Chart\.yaml: helm template failed: helm ran out of memory at the limit of 1024 MiB per tool run/,
    );
    const output = await failure(() => renderApp(b.tree(), specOf('web', 'chatty'), renderer));
    expect(output).toMatch(/^chatty\/Chart\.yaml: helm template failed: helm wrote more than 10000 bytes/);
  });
});
