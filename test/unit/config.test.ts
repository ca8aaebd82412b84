import { describe, expect, it } from 'vitest';
import { parseFleetConfig, selectTargets } from '../../shared/core/config.ts';

const minimal = `
apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - name: prod-use1
    cloud: aws
    region: us-east-1
    labels: { env: prod }
  - name: onprem-1
    cloud: onprem
    region: dc1
    labels: { env: staging }
apps:
  - name: web
    path: apps/web
    targets: { matchLabels: { env: prod } }
`;

describe('parseFleetConfig', () => {
  it('accepts a minimal fleet and fills defaults', () => {
    // GIVEN a minimal sluice.yaml  WHEN it is parsed
    const config = parseFleetConfig(minimal);
    // THEN defaults for sync and agent placement are filled in
    expect(config.apps[0]?.sync).toEqual({ prune: true, selfHeal: false });
    expect(config.targets.map((t) => t.agent)).toEqual(['lambda', 'in-cluster']);
    expect(selectTargets(config.apps[0]!.targets, config.targets).map((t) => t.name)).toEqual(['prod-use1']);
  });

  it('layers each app sync over the fleet-wide sync default, field by field', () => {
    // GIVEN a fleet default with prune off, one app that turns selfHeal on, one that turns prune back on
    const text = minimal.replace(
      'apps:\n  - name: web\n',
      'sync: { prune: false }\napps:\n  - name: api\n    path: apps/api\n    targets: {}\n    sync: { prune: true }\n  - name: web\n    sync: { selfHeal: true }\n',
    );
    // WHEN parsed THEN unset fields come from the fleet, set ones from the app
    const sync = Object.fromEntries(parseFleetConfig(text).apps.map((a) => [a.name, a.sync]));
    expect(sync).toEqual({ api: { prune: true, selfHeal: false }, web: { prune: false, selfHeal: true } });
  });

  it('names the file, the path with its line, and the fix for a wrong field', () => {
    // GIVEN a target with an unknown cloud
    const bad = minimal.replace('cloud: onprem', 'cloud: mainframe');
    // WHEN parsed THEN the error points at the exact place and says what to use
    expect(() => parseFleetConfig(bad, 'fleet/sluice.yaml')).toThrow(
      /fleet\/sluice\.yaml:10 at targets\[1\]\.cloud: .*Fix: use one of "aws", "gcp"/,
    );
  });

  it('rejects a path that escapes the repository', () => {
    const bad = minimal.replace('path: apps/web', 'path: ../outside');
    expect(() => parseFleetConfig(bad)).toThrow(
      /apps\[0\]\.path: must be a path relative to the repository root/,
    );
  });

  it('rejects an app whose selected target has no environment', () => {
    const bad = `${minimal}    environments: { staging: { overlay: overlays/staging } }\n`;
    expect(() => parseFleetConfig(bad)).toThrow(
      /selects target "prod-use1" whose label env=prod has no environment/,
    );
  });

  it('reports invalid YAML with its line', () => {
    expect(() => parseFleetConfig('apiVersion: [unclosed\n', 'x.yaml')).toThrow(
      /x\.yaml:\d+: is not valid YAML/,
    );
  });
});
