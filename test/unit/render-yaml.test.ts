import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { writeKubeYaml } from '../../shared/core/kube-yaml.ts';
import { renderApp } from '../../shared/core/render.ts';
import type { SourceTree } from '../../shared/ports/index.ts';
import { kubectlReads } from '../conformance/kubectl-reads.ts';
import { specOf } from '../security/render-support.ts';

const memoryTree = (files: Record<string, string>): SourceTree => ({
  commit: 'a'.repeat(40),
  root: '/memory',
  list: async (dir) => Object.keys(files).filter((f) => f.startsWith(`${dir}/`)),
  read: async (path) => files[path],
});

const spec = specOf('web', 'apps/web');

const render = (text: string) => renderApp(memoryTree({ 'apps/web/a.yaml': text }), spec);

/** Strings that YAML 1.1 (kubectl, PyYAML) or YAML 1.2 readers would take for something else. */
const AMBIGUOUS = [
  'yes',
  'No',
  'on',
  'OFF',
  'y',
  'n',
  '~',
  'null',
  '',
  '0644',
  '0o644',
  '0x1F',
  '0b10',
  '1_000',
  '1e3',
  '.5',
  '1.',
  '-0',
  '2001-12-14',
  '190:20:30',
  '=',
  '<<',
  '.inf',
  '.nan',
  'true',
  '123',
];

describe('reading manifests as kubectl does', () => {
  it('reads unquoted 0644 as 420 and yes as true, as the API server would receive them', async () => {
    // GIVEN a Deployment written with YAML 1.1 scalars
    const text = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  template:
    spec:
      automountServiceAccountToken: no
      volumes:
        - name: c
          configMap: { name: c, defaultMode: 0644 }
`;
    // WHEN Sluice renders it
    const [rendered] = await render(text);
    // THEN the numbers and booleans are kubectl's
    const pod = (rendered!.object as unknown as { spec: { template: { spec: Record<string, unknown> } } })
      .spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.volumes).toEqual([{ name: 'c', configMap: { name: 'c', defaultMode: 420 } }]);
  });

  it('refuses two keys that kubectl would silently fold into one, naming both and the line', async () => {
    // GIVEN a ConfigMap whose keys yes and true both read as "true" in YAML 1.1
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata:\n  yes: a\n  true: b\n';
    // WHEN it renders THEN the render fails naming the file, line and the two keys
    await expect(render(text)).rejects.toThrow(
      /apps\/web\/a\.yaml:6: the keys "yes" and "true" of one mapping both read as "true".*Fix: keep one of them, or quote/,
    );
  });

  it('refuses .inf, which kubectl cannot send, with the fix to quote it', async () => {
    // GIVEN an object with an unquoted .inf
    const text = 'apiVersion: example.com/v1\nkind: Probe\nmetadata: { name: p }\nspec:\n  limit: .inf\n';
    // WHEN it renders THEN the render fails at that line
    await expect(render(text)).rejects.toThrow(/a\.yaml:5: the unquoted value \.inf .*Fix: quote it/);
  });
});

describe('writeKubeYaml', () => {
  it('quotes every string a YAML 1.1 or 1.2 reader would misread, so all readers get the strings back', async () => {
    // GIVEN a ConfigMap whose keys and values are all ambiguous strings
    const data = Object.fromEntries(AMBIGUOUS.map((s, i) => [`k${i}`, s]));
    const keys = Object.fromEntries(AMBIGUOUS.filter((s) => s !== '<<').map((s) => [s, 'v']));
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: keys }, data };
    // WHEN it is written
    const text = writeKubeYaml(object);
    // THEN a YAML 1.1 reader, a YAML 1.2 reader and kubectl all read back the same strings
    expect(parse(text, { version: '1.1' })).toEqual(object);
    expect(parse(text, { version: '1.2' })).toEqual(object);
    expect(await kubectlReads(text)).toEqual([object]);
  });

  it('leaves plain strings plain and numbers and booleans unquoted', () => {
    // GIVEN ordinary values WHEN written THEN nothing is quoted that need not be
    expect(writeKubeYaml({ name: 'web', port: 80, on: true, mode: 420 })).toBe(
      'name: web\nport: 80\n"on": true\nmode: 420\n',
    );
  });
});
