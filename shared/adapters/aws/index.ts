export { clientConfig, s3ClientConfig } from './client-config.ts';
export { awsErrorName, awsHttpStatus, translateAwsError } from './errors.ts';
export { EventBridgeBus, type EventBridgeBusOptions } from './eventbridge-bus.ts';
export { S3BundleStore, type S3BundleStoreOptions } from './s3-bundle-store.ts';
export { S3IdempotencyStore, type S3IdempotencyStoreOptions } from './s3-idempotency-store.ts';
export { S3Ledger, type S3LedgerOptions } from './s3-ledger.ts';
export {
  parseSecretRef,
  type SecretRef,
  SecretsManagerStore,
  type SecretsManagerStoreOptions,
} from './secrets-manager-store.ts';
export { SqsAgentDispatcher, type SqsAgentDispatcherOptions } from './sqs-agent-dispatcher.ts';
export { processSqsRecords } from './sqs-batch.ts';
