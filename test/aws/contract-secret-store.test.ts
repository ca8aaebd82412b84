import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { describeSecretStoreContract } from '../contract/secret-store.contract.ts';
import { aws } from './support.ts';

describeSecretStoreContract('SecretsManagerStore (LocalStack Secrets Manager)', async () => ({
  store: new SecretsManagerStore({ aws: aws() }),
  ref: (name) => `aws-sm://${name}`,
}));
