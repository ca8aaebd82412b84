/**
 * Turns AWS SDK errors into domain errors so cores never see an SDK type. Branches on the
 * error's name and HTTP status only: SDK classes are duplicated across bundles.
 */
import { ConflictError, isSluiceError, NotFoundError, SluiceError, UnavailableError } from '../../errors.ts';

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $retryable?: unknown;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServiceError',
  'TransactionInProgressException',
]);

const NOT_FOUND = new Set([
  'NotFound',
  'NoSuchKey',
  'NoSuchBucket',
  'ResourceNotFoundException',
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
]);

const CONFLICT = new Set([
  'ConditionalCheckFailedException',
  'PreconditionFailed',
  'TransactionCanceledException',
]);

/** Node and SDK names for a request that never got an HTTP answer. */
const NETWORK = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export const awsErrorName = (error: unknown): string => {
  const shape = (error ?? {}) as SdkErrorShape;
  return shape.name ?? shape.code ?? shape.Code ?? 'Error';
};

export const awsHttpStatus = (error: unknown): number | undefined =>
  ((error ?? {}) as SdkErrorShape).$metadata?.httpStatusCode;

/**
 * @param what names the resource for the message, e.g. `bundle bundles/ab….json in bucket b`.
 */
export const translateAwsError = (
  error: unknown,
  what: string,
  data: Record<string, unknown> = {},
): SluiceError => {
  if (isSluiceError(error)) return error as SluiceError;
  const name = awsErrorName(error);
  const status = awsHttpStatus(error);
  const code = ((error ?? {}) as { code?: string }).code;
  const detail = { ...data, awsError: name, ...(status === undefined ? {} : { httpStatus: status }) };

  if (CONFLICT.has(name) || status === 412) return new ConflictError(what, detail);
  if (NOT_FOUND.has(name) || status === 404) return new NotFoundError(what, detail, error);
  if (
    THROTTLING.has(name) ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    (code !== undefined && NETWORK.has(code)) ||
    NETWORK.has(name)
  ) {
    return new UnavailableError(what, error, detail);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError('AWS_REQUEST_FAILED', `${what}: AWS rejected the request (${name}: ${message})`, {
    data: detail,
    cause: error,
  });
};
