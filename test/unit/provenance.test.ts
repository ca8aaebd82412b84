import { describe, expect, it } from 'vitest';
import { trustPolicyEnv, validateDeployConfig } from '../../infra/config.ts';
import { readTrustPolicy, SLUICE_ENV } from '../../shared/config/env.ts';
import { judgeSignature, parseTrustPolicy, ruleFor } from '../../shared/core/provenance.ts';
import type { TargetConfig } from '../../shared/schemas/config.ts';

const ALICE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJyhYKgIZri2TWtynShNVCWYRTmtMXoYN+b+pAgMnboN alice';
const POLICY = `
signers:
  - name: alice
    ssh: ${ALICE}
  - name: release-bot
    pgp: |
      -----BEGIN PGP PUBLIC KEY BLOCK-----
      not parsed here: the adapter reads keys
      -----END PGP PUBLIC KEY BLOCK-----
rules:
  - targets: { matchLabels: { env: prod } }
    signers: [release-bot]
  - targets: {}
    signers: [alice, release-bot]
mode: head
`;

const target = (name: string, labels: Record<string, string>): TargetConfig =>
  ({ name, cloud: 'aws', region: 'us-east-1', labels, agent: 'lambda' }) as unknown as TargetConfig;
const COMMIT = 'a'.repeat(40);

describe('parseTrustPolicy', () => {
  it('reads the file shape of the issue: signers, rules with selectors, mode', () => {
    // GIVEN the trust file of issue 19 WHEN it is parsed
    const policy = parseTrustPolicy(POLICY, 'trust.yaml');
    // THEN signers, rules and mode are there, with selector defaults filled in
    expect(policy.signers.map((s) => s.name)).toEqual(['alice', 'release-bot']);
    expect(policy.rules[0]?.targets.matchLabels).toEqual({ env: 'prod' });
    expect(policy.rules[1]?.signers).toEqual(['alice', 'release-bot']);
    expect(policy.mode).toBe('head');
  });

  it('defaults the mode to head', () => {
    expect(parseTrustPolicy(POLICY.replace('mode: head', ''), 'trust.yaml').mode).toBe('head');
  });

  it.each([
    [
      'a rule naming an unknown signer',
      POLICY.replace('[release-bot]', '[bob]'),
      'rules[0].signers[0]',
      /"bob" is not a signer/,
    ],
    [
      'a signer with two keys',
      POLICY.replace(`ssh: ${ALICE}`, `ssh: ${ALICE}\n    pgp: x`),
      'signers[0]',
      /exactly one key/,
    ],
    ['a signer with no key', POLICY.replace(`    ssh: ${ALICE}\n`, ''), 'signers[0]', /exactly one key/],
    ['an unknown mode', POLICY.replace('mode: head', 'mode: sometimes'), 'mode', /head.*every-commit/],
    ['an unknown field', POLICY.replace('mode: head', 'modes: head'), '', /modes/],
    [
      'a misspelt selector field',
      POLICY.replace('matchLabels', 'matchLabel'),
      'rules[0].targets',
      /matchLabel/,
    ],
    [
      'a duplicated signer',
      POLICY.replace('name: release-bot', 'name: alice'),
      'signers[1].name',
      /listed twice/,
    ],
  ])('refuses %s, naming the field', (_what, text, field, message) => {
    // GIVEN a bad trust file WHEN it is parsed THEN the error names the file, the field and the problem
    let error: unknown;
    try {
      parseTrustPolicy(text, 'trust.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    const { data, message: text2 } = error as { data: { path: string }; message: string };
    expect(data.path).toBe(field);
    expect(text2).toMatch(/^trust\.yaml/);
    expect(text2).toMatch(message);
  });
});

describe('ruleFor', () => {
  const policy = parseTrustPolicy(POLICY, 'trust.yaml');

  it('takes the first rule whose selector matches the target', () => {
    // GIVEN a prod target matched by both rules, and a staging one matched by the catch-all
    expect(ruleFor(policy, target('prod-use1', { env: 'prod' }))?.signers).toEqual(['release-bot']);
    expect(ruleFor(policy, target('staging-use1', { env: 'staging' }))?.signers).toEqual([
      'alice',
      'release-bot',
    ]);
  });

  it('uses the apps[].targets selector: names and matchExpressions', () => {
    const named = parseTrustPolicy(
      POLICY.replace(
        '{ matchLabels: { env: prod } }',
        '{ names: [edge-1], matchExpressions: [{ key: tier, operator: In, values: [edge] }] }',
      ),
      'trust.yaml',
    );
    expect(ruleFor(named, target('edge-1', { tier: 'edge' }))?.signers).toEqual(['release-bot']);
    expect(ruleFor(named, target('edge-2', { tier: 'edge' }))?.signers).toEqual(['alice', 'release-bot']);
  });

  it('finds no rule when none matches', () => {
    const prodOnly = parseTrustPolicy(
      POLICY.replace(/ {2}- targets: \{\}\n {4}signers: \[alice, release-bot\]\n/, ''),
      'trust.yaml',
    );
    expect(ruleFor(prodOnly, target('staging-use1', { env: 'staging' }))).toBeUndefined();
  });
});

describe('judgeSignature', () => {
  const policy = parseTrustPolicy(POLICY, 'trust.yaml');
  const prod = ruleFor(policy, target('prod-use1', { env: 'prod' }));
  const staging = ruleFor(policy, target('staging-use1', { env: 'staging' }));

  it('lets a valid signature by an allowed signer through', () => {
    expect(
      judgeSignature(
        { status: 'valid', signer: 'alice', fingerprint: 'SHA256:x' },
        COMMIT,
        'staging-use1',
        staging,
      ),
    ).toBeUndefined();
  });

  it('refuses a signer the target rule does not allow, naming signer and target', () => {
    const refusal = judgeSignature(
      { status: 'valid', signer: 'alice', fingerprint: 'SHA256:x' },
      COMMIT,
      'prod-use1',
      prod,
    );
    expect(refusal).toMatchObject({ reason: 'signer-not-allowed', signer: 'alice', fingerprint: 'SHA256:x' });
    expect(refusal?.message).toMatch(/^signer alice not allowed for prod-use1/);
  });

  it('refuses unsigned, unknown and bad signatures with the fingerprint', () => {
    expect(judgeSignature({ status: 'unsigned' }, COMMIT, 'prod-use1', prod)).toMatchObject({
      reason: 'unsigned',
      message: 'unsigned commit aaaaaaa',
    });
    expect(
      judgeSignature({ status: 'unknown-signer', fingerprint: 'SHA256:zz' }, COMMIT, 'prod-use1', prod)
        ?.message,
    ).toMatch(/^unknown signer SHA256:zz/);
    expect(
      judgeSignature(
        { status: 'bad-signature', fingerprint: 'ABC', signer: 'alice' },
        COMMIT,
        'staging-use1',
        staging,
      ),
    ).toMatchObject({ reason: 'bad-signature', signer: 'alice', fingerprint: 'ABC' });
  });

  it('refuses a target no rule covers, even for a valid signature', () => {
    expect(
      judgeSignature({ status: 'valid', signer: 'alice', fingerprint: 'x' }, COMMIT, 'lab-1', undefined),
    ).toMatchObject({ reason: 'no-trust-rule' });
  });
});

describe('the deployment config trust (management.trust → SLUICE_TRUST_POLICY)', () => {
  const management = { account: '111111111111', region: 'us-east-1' };
  const policy = parseTrustPolicy(POLICY, 'trust.yaml');

  it('is validated with sluice.deploy.yaml and reaches the plan function as JSON it reads back', () => {
    // GIVEN a deploy config with the trust policy of the issue
    const config = validateDeployConfig(
      { management: { ...management, trust: policy } },
      'sluice.deploy.yaml',
    );
    // WHEN it is put in the plan function's environment and read at cold start
    const env = { [SLUICE_ENV.trust]: trustPolicyEnv(config.management.trust!) };
    // THEN plan enforces the same policy
    expect(readTrustPolicy(env)).toEqual(policy);
    expect(readTrustPolicy({})).toBeUndefined();
  });

  it('refuses a rule naming an unknown signer, naming the key in the deploy config', () => {
    const bad = { ...policy, rules: [{ ...policy.rules[0]!, signers: ['bob'] }] };
    expect(() =>
      validateDeployConfig({ management: { ...management, trust: bad } }, 'sluice.deploy.yaml'),
    ).toThrow(/management\.trust\.rules\[0\]\.signers\[0\]: "bob" is not a signer/);
  });

  it('refuses a policy too large for the function environment, with the fix', () => {
    const big = { ...policy, signers: Array.from({ length: 40 }, (_, i) => ({ name: `s${i}`, ssh: ALICE })) };
    expect(() => trustPolicyEnv(big)).toThrow(/management\.trust: is \d+ bytes as JSON, over the 3072/);
  });

  it('refuses a bad SLUICE_TRUST_POLICY at cold start, naming the setting', () => {
    expect(() => readTrustPolicy({ [SLUICE_ENV.trust]: '{"signers":[]}' })).toThrow(/SLUICE_TRUST_POLICY/);
  });
});
