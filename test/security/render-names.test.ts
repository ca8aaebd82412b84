/**
 * Issue 11, item 3 (policy time): kind, apiVersion, metadata.name and metadata.namespace must
 * satisfy the Kubernetes rule for their type before anything uses them as a path segment, a
 * file name or a label. The `kubernetes-names` check cannot be disabled and names the object
 * and its file. Rendered through the real core; the CLI case runs `sluice validate`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_POLICIES, checkPolicies, NAMES_POLICY } from '../../shared/core/policy.ts';
import { renderApp } from '../../shared/core/render.ts';
import { type Sandbox, sandbox, sluice, specOf } from './render-support.ts';

const boxes: Sandbox[] = [];
afterAll(() => {
  for (const b of boxes) b.cleanup();
});

const object = (kind: string, name: string, namespace?: string, apiVersion = 'v1') =>
  `apiVersion: ${JSON.stringify(apiVersion)}\nkind: ${JSON.stringify(kind)}\nmetadata:\n  name: ${JSON.stringify(name)}\n${namespace === undefined ? '' : `  namespace: ${JSON.stringify(namespace)}\n`}`;

/** Renders one object as a directory app and returns the name violations of it. */
const violationsOf = async (yaml: string) => {
  const b = sandbox();
  boxes.push(b);
  b.write({ 'app/object.yaml': yaml });
  const rendered = await renderApp(b.tree(), specOf('web', 'app'));
  // Every built-in disabled: the name check still runs.
  return checkPolicies(rendered, [...BUILTIN_POLICIES]).filter((v) => v.policy === NAMES_POLICY);
};

describe('kubernetes-names', () => {
  const refused: [string, string, RegExp][] = [
    [
      'a name that climbs directories',
      object('ConfigMap', '../../etc/cron.d/x'),
      /metadata\.name "\.\.\/\.\.\/etc\/cron\.d\/x" of a ConfigMap must be a DNS-1123 subdomain and may not contain "\/"/,
    ],
    [
      'a name that is ".."',
      object('Secret', '..'),
      /must be a DNS-1123 subdomain and may not be "\." or "\.\."/,
    ],
    ['a percent-encoded name', object('ConfigMap', '%2e%2e'), /may not contain "\/" or "%"/],
    [
      'an upper-case name',
      object('Deployment', 'Web', undefined, 'apps/v1'),
      /metadata\.name "Web" of a Deployment must be a DNS-1123 subdomain/,
    ],
    ['a control character in a name', object('ConfigMap', 'a\u001b[2Jb'), /"a\\u001b\[2Jb"/],
    [
      'a namespace that is not a label',
      object('ConfigMap', 'ok', 'kube_system'),
      /metadata\.namespace "kube_system" must be a DNS-1123 label/,
    ],
    [
      'a namespace with a slash',
      object('ConfigMap', 'ok', '../default'),
      /metadata\.namespace "\.\.\/default"/,
    ],
    [
      'a Namespace named like a subdomain',
      object('Namespace', 'a.b'),
      /of a Namespace must be a DNS-1123 label/,
    ],
    [
      'a Service name starting with a digit',
      object('Service', '1web'),
      /of a Service must be a DNS-1035 label/,
    ],
    ['a kind with a path in it', object('Config/Map', 'ok'), /kind "Config\/Map" is not a Kubernetes kind/],
    [
      'an apiVersion with a path',
      object('ConfigMap', 'ok', undefined, 'v1/../../x'),
      /apiVersion "v1\/\.\.\/\.\.\/x"/,
    ],
  ];
  for (const [what, yaml, message] of refused) {
    it(`refuses ${what}, naming the object and the file`, async () => {
      // GIVEN an app whose only object carries the name WHEN rendered and checked
      const violations = await violationsOf(yaml);
      // THEN one violation names the check, the file and the rule
      expect(violations.length).toBeGreaterThan(0);
      expect(violations[0]).toMatchObject({ policy: 'kubernetes-names', file: 'app/object.yaml' });
      expect(violations.map((v) => v.message).join('\n')).toMatch(message);
      expect(violations[0]!.fix).toMatch(/^(rename it|use)/);
    });
  }

  it('accepts the names Kubernetes accepts: subdomains, RBAC path-segment names, labels', async () => {
    for (const yaml of [
      object('ConfigMap', 'web.config-1', 'team-a'),
      object('ClusterRole', 'system:aggregate-to-view', undefined, 'rbac.authorization.k8s.io/v1'),
      object('Namespace', 'team-a'),
      object('Service', 'web', 'team-a'),
      object('Widget', 'w.example.com', 'team-a', 'widgets.example.com/v1beta1'),
    ]) {
      expect(await violationsOf(yaml)).toEqual([]);
    }
  });
});

describe('sluice validate', () => {
  it('exits 1 with a kubernetes-names line naming the object and the file', () => {
    // GIVEN a config repo whose app holds a ConfigMap named like a path
    const b = sandbox();
    boxes.push(b);
    b.write({
      'sluice.yaml': `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: dev, cloud: other, region: local, labels: { env: dev }, cluster: { kind: directory } }
apps:
  - name: web
    path: apps/web
    targets: { matchLabels: { env: dev } }
`,
      'apps/web/cm.yaml': object('ConfigMap', '../../../tmp/owned', 'web'),
    });
    // WHEN validated with the real CLI
    const run = sluice('validate', b.repo);
    // THEN it fails with the check, the object and the file
    expect(run.stdout).toMatch(
      /^kubernetes-names {2}ConfigMap\/web\/\.\.\/\.\.\/\.\.\/tmp\/owned {2}apps\/web\/cm\.yaml {2}metadata\.name/m,
    );
    expect(run.code).toBe(1);
  });
});
