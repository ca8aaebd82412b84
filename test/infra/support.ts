import { App } from 'aws-cdk-lib';
import { buildApp, type SluiceApp } from '../../infra/app.ts';
import { type DeployConfig, validateDeployConfig } from '../../infra/config.ts';
import { BUNDLE_CONTEXT } from '../../infra/constructs/sluice-function.ts';

export const MANAGEMENT = '111111111111';

/** Two regional stacks: a Lambda agent in another account and an in-cluster agent role. */
export const testConfig = (): DeployConfig =>
  validateDeployConfig(
    {
      management: { account: MANAGEMENT, region: 'us-east-1' },
      regions: [
        {
          account: MANAGEMENT,
          region: 'us-east-1',
          agent: 'lambda',
          targets: ['prod-use1'],
          eksClusters: { 'prod-use1': 'prod' },
        },
        { account: '222222222222', region: 'eu-west-1', agent: 'lambda' },
        { account: '444444444444', region: 'eu-central-1', agent: 'in-cluster', targets: ['onprem-fra1'] },
      ],
    },
    'test',
  );

/** The whole app without esbuild (assertions only look at the templates). */
export const buildTestApp = (config: DeployConfig = testConfig()): SluiceApp =>
  buildApp(config, new App({ context: { [BUNDLE_CONTEXT]: false } }));
