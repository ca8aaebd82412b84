/**
 * A local HTTP server that answers like api.github.com and checks every request against GitHub's
 * published OpenAPI description (@octokit/openapi): the operation must exist for the method and
 * path, path parameters must be filled, and the JSON body must fit the operation's schema (types,
 * enums, required properties). Used by the GitHub adapter tests.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

type Schema = Record<string, unknown>;
interface Spec {
  paths: Record<string, Record<string, { requestBody?: Schema; operationId?: string }>>;
  components: Record<string, Record<string, Schema>>;
}

let spec: Spec | undefined;
const loadSpec = (): Spec => {
  const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
  spec ??= JSON.parse(readFileSync(file, 'utf8')) as Spec;
  return spec;
};

const resolve = (schema: Schema | undefined): Schema | undefined => {
  let current = schema;
  for (let i = 0; i < 10 && typeof current?.$ref === 'string'; i++) {
    const [, , group, name] = (current.$ref as string).split('/');
    current = loadSpec().components[group as string]?.[name as string];
  }
  return current;
};

/** Problems with `value` against `schema` (a subset of JSON Schema: what GitHub's bodies use). */
export const validate = (schema: Schema | undefined, value: unknown, at = 'body'): string[] => {
  const s = resolve(schema);
  if (!s) return [];
  const options = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
  if (options)
    return options.some((o) => validate(o, value, at).length === 0) ? [] : [`${at}: matches no option`];
  if (value === null) return s.nullable ? [] : [`${at}: is null`];
  const problems: string[] = [];
  const type = s.type as string | undefined;
  const actual = Array.isArray(value) ? 'array' : typeof value;
  if (type === 'integer' ? !Number.isInteger(value) : type !== undefined && type !== actual) {
    return [`${at}: is ${actual}, expected ${type}`];
  }
  if (Array.isArray(s.enum) && !s.enum.includes(value))
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${s.enum.join(', ')}`);
  if (type === 'object' && typeof value === 'object') {
    const properties = (s.properties ?? {}) as Record<string, Schema>;
    for (const required of (s.required as string[] | undefined) ?? []) {
      if (!(required in (value as object))) problems.push(`${at}.${required}: is required`);
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (properties[key]) problems.push(...validate(properties[key], child, `${at}.${key}`));
      else if (s.additionalProperties === false) problems.push(`${at}.${key}: is not allowed`);
    }
  }
  if (type === 'array' && Array.isArray(value)) {
    for (const [i, item] of value.entries())
      problems.push(...validate(s.items as Schema, item, `${at}[${i}]`));
  }
  return problems;
};

/** The operation (path template) a request matches, or undefined. */
export const matchOperation = (method: string, pathname: string) => {
  for (const [template, operations] of Object.entries(loadSpec().paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    const operation = operations[method.toLowerCase()];
    if (operation && pattern.test(pathname)) return { template, operation };
  }
  return undefined;
};

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly template: string;
  readonly body: unknown;
  readonly authorization: string | undefined;
}

export interface FakeGithub {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests that did not fit the OpenAPI description, with the reasons. */
  readonly violations: string[];
  close(): Promise<void>;
}

const readBody = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
};

/**
 * Starts the fake. `respond` decides each answer (status and JSON); a request outside the
 * description gets 422, as GitHub answers invalid input.
 */
export const startFakeGithub = async (
  respond: (request: RecordedRequest) => { status: number; body?: unknown },
): Promise<FakeGithub> => {
  loadSpec();
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const body = await readBody(req);
      const match = matchOperation(req.method ?? 'GET', pathname);
      const content = resolve(match?.operation.requestBody)?.content as Record<string, Schema> | undefined;
      const problems = match
        ? validate(content?.['application/json']?.schema as Schema | undefined, body)
        : [`${req.method} ${pathname}: no such operation`];
      const recorded = {
        method: req.method ?? 'GET',
        path: pathname,
        template: match?.template ?? '',
        body,
        authorization: req.headers.authorization,
      };
      requests.push(recorded);
      const answer =
        problems.length > 0 ? { status: 422, body: { message: problems.join('; ') } } : respond(recorded);
      violations.push(...problems);
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    })().catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    violations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
