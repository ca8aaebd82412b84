import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { KmsBundleSigner, KmsBundleVerifier } from '../../shared/adapters/aws/kms-bundle-signing.ts';
import { describeBundleSigningContract } from '../contract/bundle-signing.contract.ts';
import { aws } from './support.ts';

/** The deployed pipeline's key: ECC_NIST_P256 in KMS, as the management stack creates it. */
describeBundleSigningContract('KmsBundleSigner/KmsBundleVerifier (LocalStack KMS)', async () => {
  const kms = new KMSClient(clientConfig(aws()));
  const key = async () =>
    (
      await kms.send(
        new CreateKeyCommand({
          KeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          Description: 'sluice contract',
        }),
      )
    ).KeyMetadata!.Arn!;
  const keyId = await key();
  return {
    signer: new KmsBundleSigner({ keyId, aws: aws() }),
    verifier: new KmsBundleVerifier({ keyId, aws: aws() }),
    stranger: new KmsBundleSigner({ keyId: await key(), aws: aws() }),
  };
});
