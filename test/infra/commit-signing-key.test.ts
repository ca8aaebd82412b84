import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { buildTestApp } from './support.ts';

let management: Template;

beforeAll(() => {
  management = Template.fromStack(buildTestApp().management);
});

/** The logical id of the commit-signing key's secret. */
const secretId = (): string => {
  const secrets = management.findResources('AWS::SecretsManager::Secret', {
    Properties: { GenerateSecretString: { GenerateStringKey: 'seed' } },
  });
  const ids = Object.keys(secrets);
  expect(ids).toHaveLength(1);
  return ids[0]!;
};

describe("Sluice's commit-signing key on AWS (signed reverts)", () => {
  it('is a secret CloudFormation generates, so no key material is in Git or the template', () => {
    management.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { GenerateStringKey: 'seed', PasswordLength: 64, SecretStringTemplate: '{}' },
      SecretString: Match.absent(),
    });
    management.hasOutput('CommitSigningKeySecretArn', { Value: { Ref: secretId() } });
  });

  it('is given to the rollback function only, which reads it', () => {
    const id = secretId();
    const functions = Object.values(management.findResources('AWS::Lambda::Function')) as {
      Properties: { Description?: string; Environment?: { Variables?: Record<string, unknown> } };
    }[];
    const holders = functions
      .filter((fn) => fn.Properties.Environment?.Variables?.[SLUICE_ENV.commitSigningKey] !== undefined)
      .map((fn) => fn.Properties.Description);
    expect(holders).toEqual(['Sluice rollback']);
    const readers = Object.values(management.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy).includes(`{"Ref":"${id}"}`),
    );
    expect(readers).toHaveLength(1);
    expect(JSON.stringify(readers[0])).toContain('secretsmanager:GetSecretValue');
  });
});
