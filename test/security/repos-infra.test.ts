/**
 * Issue 11, item 6 on AWS: the deployment config's repo list (sluice.deploy.yaml
 * `management.repos`) reaches every function that decides what deploys, as SLUICE_REPOS.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { validateDeployConfig } from '../../infra/config.ts';
import { readDeployRepos, SLUICE_ENV } from '../../shared/config/env.ts';
import { buildTestApp, testConfig } from '../infra/support.ts';

describe('management.repos in the management stack', () => {
  it('gives ingest, plan, reconcile and rollback the configured repos, branches and clone URLs', () => {
    // GIVEN a deployment config listing one repo with two deploy branches
    const base = testConfig();
    const config = validateDeployConfig(
      {
        ...base,
        management: {
          ...base.management,
          repos: [
            {
              name: 'acme/fleet',
              url: 'https://git.example.com/acme/fleet.git',
              branches: ['main', 'release'],
            },
          ],
        },
      },
      'test',
    );
    // WHEN the stack is synthesised
    const template = Template.fromStack(buildTestApp(config).management);
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    const reposOf = (name: string) => {
      const fn = functions.find((f) => f.Properties.Description === `Sluice ${name}`);
      return fn?.Properties.Environment?.Variables?.[SLUICE_ENV.repos] as string | undefined;
    };
    // THEN each of them reads the same list, and it parses back to the configured repo
    for (const name of ['ingest', 'plan', 'reconcile', 'rollback']) {
      const raw = reposOf(name);
      expect(raw, name).toBeDefined();
      const repos = readDeployRepos({ [SLUICE_ENV.repos]: raw });
      expect(repos.find('acme/fleet')).toEqual({
        name: 'acme/fleet',
        url: 'https://git.example.com/acme/fleet.git',
        branches: ['main', 'release'],
      });
    }
    // AND the stages that never decide what deploys do not carry it
    for (const name of ['render', 'dispatch', 'report']) expect(reposOf(name), name).toBeUndefined();
  });
});
