import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { edgeErrorResponse, type IngestDeps, type IngestResponse, ingestWebhook } from '../core/ingest.ts';
import { isSluiceError } from '../errors.ts';

const toResult = ({ status, body, headers }: IngestResponse): APIGatewayProxyResultV2 => ({
  statusCode: status,
  headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(body),
});

/**
 * API Gateway HTTP API (payload v2) → ingest, with the Powertools Logger's Lambda context. Errors
 * are mapped in one place: a bare 500, or 503 when retryable (the provider redelivers).
 */
export const createIngestHandler = (
  deps: IngestDeps,
  logger: Logger = new Logger({ serviceName: 'sluice-ingest' }),
) =>
  middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .onError((request) => {
      const error = request.error;
      logger.error('ingest failed', {
        code: isSluiceError(error) ? error.code : 'UNEXPECTED',
        error: error instanceof Error ? error.message : String(error),
      });
      request.response = toResult(edgeErrorResponse(error));
      return request.response;
    })
    .handler(async (event) => {
      const headers = Object.fromEntries(
        Object.entries(event.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
      );
      const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
      const provider = event.pathParameters?.provider ?? '';
      return toResult(await ingestWebhook(deps, { provider, headers, body }));
    });
