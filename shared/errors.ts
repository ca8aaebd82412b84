/**
 * One error base for the whole domain. Callers branch on `code`, never on `instanceof`:
 * bundling can duplicate classes, and errors cross process boundaries as JSON.
 */
export interface SluiceErrorOptions {
  readonly data?: Record<string, unknown>;
  readonly cause?: unknown;
  /** True when the same input may succeed later (network, throttling, a lock). */
  readonly retryable?: boolean;
}

export class SluiceError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.data = options.data ?? {};
    this.retryable = options.retryable ?? false;
  }

  toJSON(): { code: string; message: string; data: Record<string, unknown>; retryable: boolean } {
    return { code: this.code, message: this.message, data: this.data, retryable: this.retryable };
  }
}

export const isSluiceError = (error: unknown): error is SluiceError =>
  typeof error === 'object' &&
  error !== null &&
  typeof (error as { code?: unknown }).code === 'string' &&
  typeof (error as { retryable?: unknown }).retryable === 'boolean';

/** Bad configuration: names the file, the path inside it, and the fix. */
export class ConfigError extends SluiceError {
  constructor(file: string, path: string, problem: string, fix: string, cause?: unknown) {
    super('CONFIG_INVALID', `${file}${path ? ` at ${path}` : ''}: ${problem}. Fix: ${fix}`, {
      data: { file, path, problem, fix },
      cause,
    });
  }
}

/** Input from outside (a webhook, a message, a CLI flag) that can never succeed as sent. */
export class BadInputError extends SluiceError {
  constructor(input: string, problem: string, fix: string, data: Record<string, unknown> = {}) {
    super('BAD_INPUT', `${input}: ${problem}. Fix: ${fix}`, { data: { input, problem, fix, ...data } });
  }
}

export class NotFoundError extends SluiceError {
  constructor(what: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('NOT_FOUND', `${what} was not found`, { data: { what, ...data }, cause });
  }
}

/** A conditional write lost a race; reading again and retrying is the cure. */
export class ConflictError extends SluiceError {
  constructor(what: string, data: Record<string, unknown> = {}) {
    super('CONFLICT', `${what} was changed concurrently; retry with the current version`, {
      data: { what, ...data },
      retryable: true,
    });
  }
}

/** A dependency (git server, store, cluster) could not be reached; the message will be retried. */
export class UnavailableError extends SluiceError {
  constructor(what: string, cause?: unknown, data: Record<string, unknown> = {}) {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    super('UNAVAILABLE', `${what} is unavailable${reason}`, {
      data: { what, ...data },
      cause,
      retryable: true,
    });
  }
}
