import { CreateAliasCommand, CreateKeyCommand, KMSClient, UpdateAliasCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { KmsBundleSigner, KmsBundleVerifier } from '../../shared/adapters/aws/kms-bundle-signing.ts';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { aws, uniqueName } from './support.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

describe('KmsBundleSigner and KmsBundleVerifier (LocalStack KMS)', () => {
  it('signs a bundle digest in KMS that an agent verifies with the public key alone', async () => {
    // GIVEN an ECC_NIST_P256 signing key in KMS, as the management stack creates it
    const kms = new KMSClient(clientConfig(aws()));
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'sluice test' }),
    );
    const keyId = KeyMetadata!.Arn!;
    const signer = new KmsBundleSigner({ keyId, aws: aws() });
    const verifier = new KmsBundleVerifier({ keyId, aws: aws() });

    // WHEN dispatch signs a digest
    const signature = await signer.sign(digest('a'));

    // THEN the agent accepts it for that digest, and for no other
    expect(signature.algorithm).toBe('ecdsa-p256-sha256');
    expect(await verifier.verify(digest('a'), signature)).toBe(true);
    expect(await verifier.verify(digest('b'), signature)).toBe(false);
    // AND refuses a signature by a key it does not trust (sluice dev's local key)
    const local = await ephemeralSigningKey().signer.sign(digest('a'));
    expect(await verifier.verify(digest('a'), local)).toBe(false);
    // AND a signature claiming the KMS key's id in another algorithm
    expect(await verifier.verify(digest('a'), { ...signature, algorithm: 'ed25519' })).toBe(false);
  }, 60_000);

  it('lets an agent find the key by its alias ARN, as the regional stacks name it', async () => {
    // GIVEN a signing key with an alias, and a bundle signed by dispatch with the key's ARN
    const kms = new KMSClient(clientConfig(aws()));
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
    );
    const alias = `alias/${uniqueName('sluice-signing')}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: KeyMetadata!.KeyId! }));
    const signature = await new KmsBundleSigner({ keyId: KeyMetadata!.Arn!, aws: aws() }).sign(digest('c'));
    // WHEN an agent verifies with the alias ARN (SLUICE_SIGNING_KEY)
    const aliasArn = KeyMetadata!.Arn!.replace(/:key\/.*$/, `:${alias}`);
    const verifier = new KmsBundleVerifier({ keyId: aliasArn, aws: aws() });
    // THEN the key ids agree and the signature verifies
    expect(await verifier.verify(digest('c'), signature)).toBe(true);
  }, 60_000);

  it('rotates the key: an alias moved to a new key is followed, the old key verifies only while listed', async () => {
    // GIVEN key A behind an alias; dispatch signs with the alias, and agents list the alias and,
    // for the rotation window, A's ARN (SLUICE_SIGNING_KEY="<alias ARN>,<key A ARN>")
    const kms = new KMSClient(clientConfig(aws()));
    const create = async () =>
      (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })))
        .KeyMetadata!;
    const a = await create();
    const alias = `alias/${uniqueName('sluice-rotate')}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: a.KeyId! }));
    const aliasArn = a.Arn!.replace(/:key\/.*$/, `:${alias}`);
    const signer = new KmsBundleSigner({ keyId: aliasArn, aws: aws() });
    const during = new KmsBundleVerifier({ keyId: `${aliasArn}, ${a.Arn}`, aws: aws(), refreshMs: 0 });
    const byA = await signer.sign(digest('d'));
    expect(await during.verify(digest('d'), byA)).toBe(true);

    // WHEN the operator creates key B and moves the alias to it
    const b = await create();
    await kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: b.KeyId! }));
    const byB = await signer.sign(digest('e'));

    // THEN the same signer names B's key (not the A it signed with before), and the running agent
    // follows the alias to B while a bundle A signed, still queued, verifies too
    expect(byB.keyId).not.toBe(byA.keyId);
    expect(await during.verify(digest('e'), byB)).toBe(true);
    expect(await during.verify(digest('d'), byA)).toBe(true);
    // AND after the window, an agent given the alias alone refuses A's signature
    const after = new KmsBundleVerifier({ keyId: aliasArn, aws: aws() });
    expect(await after.verify(digest('e'), byB)).toBe(true);
    expect(await after.verify(digest('d'), byA)).toBe(false);
  }, 60_000);
});
