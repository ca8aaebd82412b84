import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { buildTestApp, MANAGEMENT } from './support.ts';

let management: Template;
let otherAccount: Template;
let inCluster: Template;

beforeAll(() => {
  const app = buildTestApp();
  management = Template.fromStack(app.management);
  const [, other, cluster] = app.regional.map((stack) => Template.fromStack(stack));
  otherAccount = other!;
  inCluster = cluster!;
});

/** The logical id of the function whose `functionLabel` (folder under functions/) is `name`. */
const roleOf = (template: Template, description: string): string => {
  const [id] = Object.entries(template.findResources('AWS::Lambda::Function')).find(
    ([, fn]) => (fn as { Properties: { Description?: string } }).Properties.Description === description,
  )!;
  const role = (template.toJSON().Resources[id].Properties.Role as { 'Fn::GetAtt': [string, string] })[
    'Fn::GetAtt'
  ][0];
  return role;
};

describe('bundle signing on AWS', () => {
  it('creates an ECDSA P-256 signing key with the alias agents find it by, readable by the agents accounts', () => {
    management.hasResourceProperties('AWS::KMS::Key', {
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'AgentsReadThePublicKey', Action: 'kms:GetPublicKey' }),
        ]),
      },
    });
    management.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/sluice-bundle-signing' });
  });

  it('lets dispatch, rollback and rollout (held wave requests) sign with the key, and no other function', () => {
    const signers = Object.entries(management.findResources('AWS::IAM::Policy'))
      .filter(([, policy]) =>
        JSON.stringify((policy as { Properties: unknown }).Properties).includes('"kms:Sign"'),
      )
      .map(([, policy]) => (policy as { Properties: { Roles: { Ref: string }[] } }).Properties.Roles[0]!.Ref)
      .sort();
    expect(signers).toEqual(
      [
        roleOf(management, 'Sluice dispatch'),
        roleOf(management, 'Sluice rollback'),
        roleOf(management, 'Sluice rollout'),
      ].sort(),
    );
    for (const name of ['dispatch', 'rollback', 'rollout']) {
      management.hasResourceProperties('AWS::Lambda::Function', {
        Description: `Sluice ${name}`,
        Environment: { Variables: Match.objectLike({ [SLUICE_ENV.signingKey]: Match.anyValue() }) },
      });
    }
  });

  it('gives each agent the key by alias and only kms:GetPublicKey on it', () => {
    // GIVEN an agent Lambda in another account, and a `sluice agent` role on-prem
    otherAccount.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.signingKey]: {
            'Fn::Join': ['', Match.arrayWith([`:kms:us-east-1:${MANAGEMENT}:alias/sluice-bundle-signing`])],
          },
        }),
      },
    });
    for (const template of [otherAccount, inCluster]) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: 'kms:GetPublicKey',
              Condition: {
                'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/sluice-bundle-signing' },
              },
            }),
          ]),
        },
      });
    }
  });
});
