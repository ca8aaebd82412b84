import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadDeployConfig, validateDeployConfig } from '../../infra/config.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-deploy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const management = { account: '111111111111', region: 'us-east-1' };

describe('loadDeployConfig', () => {
  it('reads sluice.deploy.yaml over the cdk.json context and fills in defaults', () => {
    // GIVEN a config file next to a different context
    writeFileSync(
      join(dir, 'sluice.deploy.yaml'),
      'management:\n  account: "222222222222"\n  region: eu-west-1\nregions: []\n',
    );
    // WHEN it is loaded
    const config = loadDeployConfig({ cwd: dir, context: { management } });
    // THEN the file wins and defaults are applied
    expect(config.management).toMatchObject({
      account: '222222222222',
      stackName: 'SluiceManagement',
      coalesceSeconds: 2,
    });
  });

  it('names the file, the line, the key, the bad value and the fix', () => {
    writeFileSync(
      join(dir, 'sluice.deploy.yaml'),
      'management:\n  account: "111111111111"\n  region: us-east-1\nregions:\n  - account: 2222\n    region: eu-west-1\n    agent: lambda\n',
    );
    expect(() => loadDeployConfig({ cwd: dir })).toThrow(
      /sluice\.deploy\.yaml:5 at regions\[0\]\.account: must be a 12-digit AWS account id.*\(got 2222\)\. Fix: /,
    );
  });

  it('says how to start when there is no config at all', () => {
    expect(() => loadDeployConfig({ cwd: dir })).toThrow(
      /no deploy config.*Fix: create sluice\.deploy\.yaml/,
    );
  });

  it('rejects an explicit -c sluice:config file that does not exist', () => {
    expect(() => loadDeployConfig({ cwd: dir, file: 'nope.yaml' })).toThrow(
      /context at sluice:config: file "nope\.yaml" does not exist/,
    );
  });
});

describe('validateDeployConfig', () => {
  it('rejects an unknown key in the context', () => {
    expect(() => validateDeployConfig({ management, regoins: [] }, 'cdk.json', 'context.sluice')).toThrow(
      /cdk\.json at context\.sluice: .*regoins.*Fix: remove the key or fix its spelling/,
    );
  });

  it('requires targets when two regional stacks share a region', () => {
    const regions = [
      { account: '111111111111', region: 'us-east-1', agent: 'lambda' },
      { account: '333333333333', region: 'us-east-1', agent: 'lambda', targets: ['staging-use1'] },
    ];
    expect(() => validateDeployConfig({ management, regions }, 'cdk.json')).toThrow(
      /regions\[0\]\.targets: 2 regional stacks share us-east-1.*Fix: list the targets/,
    );
  });

  it('routes a target to one agent only', () => {
    const regions = [
      { account: '111111111111', region: 'us-east-1', agent: 'lambda', targets: ['a'] },
      { account: '222222222222', region: 'eu-west-1', agent: 'lambda', targets: ['a'] },
    ];
    expect(() => validateDeployConfig({ management, regions }, 'cdk.json')).toThrow(
      /target "a" is also served by regions\[0\]/,
    );
  });
});
