import { App } from 'aws-cdk-lib';
import { buildApp, type SluiceApp } from '../../infra/app.ts';
import { type DeployConfig, validateDeployConfig } from '../../infra/config.ts';
import { BUNDLE_CONTEXT } from '../../infra/constructs/sluice-function.ts';

export const MANAGEMENT = '111111111111';
export const TRUST_ANCHOR = '0a1b2c3d-0000-4000-8000-000000000001';

/**
 * Three regional stacks: a Lambda agent in the management account/region, one in another account
 * in a VPC, and an on-prem agent role assumed through IAM Roles Anywhere; alerts to every channel.
 */
export const testConfig = (): DeployConfig =>
  validateDeployConfig(
    {
      management: {
        account: MANAGEMENT,
        region: 'us-east-1',
        alerts: {
          emails: ['oncall@example.com'],
          https: ['https://events.pagerduty.com/integration/abc/enqueue'],
          slack: [{ workspaceId: 'T0123ABCD', channelId: 'C0123ABCD' }],
        },
      },
      regions: [
        {
          account: MANAGEMENT,
          region: 'us-east-1',
          agent: 'lambda',
          targets: ['prod-use1'],
          eksClusters: { 'prod-use1': 'prod' },
        },
        {
          account: '222222222222',
          region: 'eu-west-1',
          agent: 'lambda',
          vpc: {
            vpcId: 'vpc-0123456789abcdef0',
            subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
            securityGroupIds: ['sg-0123456789abcdef0'],
          },
        },
        {
          account: '444444444444',
          region: 'eu-central-1',
          agent: 'in-cluster',
          targets: ['onprem-fra1'],
          agentIdentity: {
            rolesAnywhereTrustAnchorArn: `arn:aws:rolesanywhere:eu-central-1:444444444444:trust-anchor/${TRUST_ANCHOR}`,
            certificateCommonName: 'sluice-agent-fra1',
          },
        },
      ],
    },
    'test',
  );

/** The whole app without esbuild (assertions only look at the templates). */
export const buildTestApp = (config: DeployConfig = testConfig()): SluiceApp =>
  buildApp(config, new App({ context: { [BUNDLE_CONTEXT]: false } }));
