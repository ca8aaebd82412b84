/** Generated config repos for benchmarks and reliability tests. */

export const configMap = (name: string, value: string): string =>
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
data:
  value: "${value}"
`;

const target = (name: string, region: string, labels: Record<string, string>) =>
  `  - name: ${name}
    cloud: aws
    region: ${region}
    labels: { ${Object.entries(labels)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')} }
    cluster: { kind: eks, name: ${name} }
`;

/**
 * A small repo: one app (`app-<i>`, a ConfigMap) on `targets` targets named `r<i>-t<n>` in two
 * regions. Names carry the repo's index because the ledger keys deployments by (app, target).
 */
export const smallRepo = (
  i: number,
  targets = 2,
  extra: Record<string, string> = {},
): Record<string, string> => ({
  'sluice.yaml': `apiVersion: sluice.dev/v1
kind: Fleet
targets:
${Array.from({ length: targets }, (_, n) =>
  target(`r${i}-t${n}`, n % 2 ? 'eu-west-1' : 'us-east-1', { env: 'prod' }),
).join('')}apps:
  - name: app-${i}
    path: apps/app-${i}
    namespace: app-${i}
    targets: {}
`,
  [`apps/app-${i}/configmap.yaml`]: configMap(`app-${i}`, 'v0'),
  ...extra,
});

/** A monorepo: `apps` apps under apps/, each a ConfigMap, all on two targets. */
export const monorepo = (apps: number): Record<string, string> => {
  const files: Record<string, string> = {};
  const entries: string[] = [];
  for (let i = 0; i < apps; i++) {
    const name = `svc-${String(i).padStart(3, '0')}`;
    files[`apps/${name}/configmap.yaml`] = configMap(name, 'v0');
    entries.push(`  - name: ${name}\n    path: apps/${name}\n    namespace: ${name}\n    targets: {}\n`);
  }
  files['sluice.yaml'] = `apiVersion: sluice.dev/v1
kind: Fleet
targets:
${target('mono-use1', 'us-east-1', { env: 'prod' })}${target('mono-euw1', 'eu-west-1', { env: 'prod' })}apps:
${entries.join('')}`;
  return files;
};

/** Twenty AWS regions, in the order targets are spread over them. */
export const AWS_REGIONS: readonly string[] = [
  'us-east-1',
  'eu-west-1',
  'ap-south-1',
  'us-west-2',
  'us-east-2',
  'us-west-1',
  'ca-central-1',
  'sa-east-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'eu-north-1',
  'eu-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-east-1',
  'me-south-1',
];

/**
 * One app on `targets` targets spread over `overlays` environments (the `env` label), each
 * environment an overlay of the same base: `overlays` distinct renders.
 */
export const fanoutRepo = (
  targets: number,
  overlays: number,
  regions: readonly string[] = AWS_REGIONS.slice(0, 4),
): Record<string, string> => {
  const envs = Array.from({ length: overlays }, (_, i) => `env${i}`);
  const files: Record<string, string> = {
    'apps/edge/base/configmap.yaml': configMap('edge', 'base'),
  };
  for (const env of envs) files[`apps/edge/overlays/${env}/configmap.yaml`] = configMap('edge', env);
  files['sluice.yaml'] = `apiVersion: sluice.dev/v1
kind: Fleet
targets:
${Array.from({ length: targets }, (_, i) =>
  target(`edge-${String(i).padStart(5, '0')}`, regions[i % regions.length]!, { env: envs[i % overlays]! }),
).join('')}apps:
  - name: edge
    path: apps/edge
    base: base
    namespace: edge
    environments:
${envs.map((env) => `      ${env}:\n        overlay: overlays/${env}\n`).join('')}    targets: {}
`;
  return files;
};
