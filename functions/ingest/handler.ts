import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import {
  edgeErrorResponse,
  type IngestDeps,
  type IngestResponse,
  ingestWebhook,
} from '../../shared/core/ingest.ts';

const toResult = ({ status, body, headers }: IngestResponse): APIGatewayProxyResultV2 => ({
  statusCode: status,
  headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(body),
});

/** API Gateway HTTP API (payload v2) → ingest. Errors become a bare 500, or 503 when retryable. */
export const createIngestHandler = (deps: IngestDeps) =>
  middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
    .onError((request) => {
      console.error(`ingest failed: ${(request.error as Error | undefined)?.message}`);
      return toResult(edgeErrorResponse(request.error));
    })
    .handler(async (event) => {
      const headers = Object.fromEntries(
        Object.entries(event.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
      );
      const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
      const provider = event.pathParameters?.provider ?? '';
      return toResult(await ingestWebhook(deps, { provider, headers, body }));
    });
