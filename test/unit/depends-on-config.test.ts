/** sluice.yaml's apps[].dependsOn (docs/progressive-delivery.md#ordering-between-apps-dependson). */
import { describe, expect, it } from 'vitest';
import { parseFleetConfig } from '../../shared/core/config.ts';

const fleet = (crds: string, app: string, extra = '') => `
apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: staging-use1, cloud: aws, region: us-east-1, labels: { env: staging } }
apps:
  - name: crds
    path: apps/crds
    targets: {}
${crds}
  - name: app
    path: apps/app
    targets: {}
${app}
${extra}`;

const errorOf = (text: string): string => {
  try {
    parseFleetConfig(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
};

describe('apps[].dependsOn in sluice.yaml', () => {
  it('accepts an app that depends on another app of the file', () => {
    const config = parseFleetConfig(fleet('', '    dependsOn: [crds]'));
    expect(config.apps.find((a) => a.name === 'app')?.dependsOn).toEqual(['crds']);
    expect(config.apps.find((a) => a.name === 'crds')?.dependsOn).toBeUndefined();
  });

  it('refuses an app name that is not in the file, naming it and the apps there are', () => {
    const message = errorOf(fleet('', '    dependsOn: [crd]'));
    expect(message).toContain('apps[1].dependsOn[0]');
    expect(message).toContain('"crd"');
    expect(message).toContain('use one of crds');
  });

  it('refuses an app that depends on itself', () => {
    const message = errorOf(fleet('', '    dependsOn: [app]'));
    expect(message).toContain('apps[1].dependsOn[0]');
    expect(message).toContain('"app" depends on itself');
  });

  it('refuses a cycle, naming every app on it', () => {
    const message = errorOf(
      fleet(
        '    dependsOn: [operator]',
        '    dependsOn: [crds]',
        `  - name: operator
    path: apps/operator
    targets: {}
    dependsOn: [app]`,
      ),
    );
    expect(message).toContain('cycle: crds -> operator -> app -> crds');
    expect(message).toContain('remove one of these dependsOn entries');
  });
});
