/**
 * One error base for the whole domain. Callers branch on `code`, never on `instanceof`:
 * bundling can duplicate classes, and errors cross process boundaries as JSON.
 */
/**
 * Every code a SluiceError can carry: a closed set, so a caller's `error.code === '…'` is checked
 * by the compiler and a new code is a deliberate edit here, with its meaning beside it.
 */
export const ErrorCode = {
  /** A server-side apply conflicted with another field manager's fields (agent). */
  APPLY_CONFLICT: 'APPLY_CONFLICT',
  /** The API server refused an object (validation, admission). */
  APPLY_REJECTED: 'APPLY_REJECTED',
  /** AWS answered with an error that is neither missing, conflict nor throttling. */
  AWS_REQUEST_FAILED: 'AWS_REQUEST_FAILED',
  /** Input from outside (webhook, message, flag) that can never succeed as sent. */
  BAD_INPUT: 'BAD_INPUT',
  /** A `sluice.dev/wave` annotation that is not a whole number. */
  BAD_WAVE: 'BAD_WAVE',
  /** Bundle bytes that are not a Sluice bundle. */
  BUNDLE_INVALID: 'BUNDLE_INVALID',
  /** The cluster denied the agent's identity an action. */
  CLUSTER_FORBIDDEN: 'CLUSTER_FORBIDDEN',
  /** The cluster did not accept the agent's credentials. */
  CLUSTER_UNAUTHORIZED: 'CLUSTER_UNAUTHORIZED',
  /** sluice.yaml (or another config file) is invalid. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A conditional write lost a race; re-read and retry. */
  CONFLICT: 'CONFLICT',
  /** A CRD applied in an earlier wave never became Established. */
  CRD_NOT_ESTABLISHED: 'CRD_NOT_ESTABLISHED',
  /** Stored bundle bytes no longer hash to their digest (tampered or corrupted). */
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  /** A git fetch, clone or push failed. */
  GIT_FAILED: 'GIT_FAILED',
  /** The GitHub API rejected a request. */
  GITHUB_FAILED: 'GITHUB_FAILED',
  /** The app did not become healthy before its deadline. */
  HEALTH_DEADLINE: 'HEALTH_DEADLINE',
  /** The app's objects report themselves unhealthy. */
  HEALTH_FAILED: 'HEALTH_FAILED',
  /** A kubeconfig that cannot be used. */
  KUBECONFIG_INVALID: 'KUBECONFIG_INVALID',
  /** A target names a kubeconfig context the operator did not allow, or that does not exist (`sluice dev`). */
  KUBE_CONTEXT_REFUSED: 'KUBE_CONTEXT_REFUSED',
  /** A thing that was looked up does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** An object already belongs to another app, or to no Sluice app. */
  OWNERSHIP_CONFLICT: 'OWNERSHIP_CONFLICT',
  /** A credential lacks a permission. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** A Git provider's API refused a webhook or status call. */
  PROVIDER_REJECTED: 'PROVIDER_REJECTED',
  /** Pruning would delete more objects than the app allows at once. */
  PRUNE_LIMIT: 'PRUNE_LIMIT',
  /** A running `sluice dev` refused an event sent to its control endpoint (`sluice rollback`, `sluice alarm`). */
  REJECTED: 'REJECTED',
  /** Manifests do not render. */
  RENDER_FAILED: 'RENDER_FAILED',
  /** A secret reference in a manifest could not be resolved at apply time. */
  SECRET_UNRESOLVED: 'SECRET_UNRESOLVED',
  /** A SOPS-encrypted manifest could not be decrypted or verified at apply time. */
  SOPS_DECRYPT_FAILED: 'SOPS_DECRYPT_FAILED',
  /** The render tools (kubectl, helm) are not installed where expected. */
  TOOLS_MISSING: 'TOOLS_MISSING',
  /** A credential was not accepted. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A name Sluice did not choose would make a path that leaves its root (or follows a link). */
  UNSAFE_PATH: 'UNSAFE_PATH',
  /** A dependency could not be reached; retrying may succeed. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A kind the API server does not serve. */
  UNKNOWN_KIND: 'UNKNOWN_KIND',
  /** Vault refused a request. */
  VAULT_REJECTED: 'VAULT_REJECTED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface SluiceErrorOptions {
  readonly data?: Record<string, unknown>;
  readonly cause?: unknown;
  /** True when the same input may succeed later (network, throttling, a lock). */
  readonly retryable?: boolean;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.data = options.data ?? {};
    this.retryable = options.retryable ?? false;
  }

  toJSON(): { code: ErrorCode; message: string; data: Record<string, unknown>; retryable: boolean } {
    return { code: this.code, message: this.message, data: this.data, retryable: this.retryable };
  }
}

/** True for a member of the closed set; an errno or SDK code (`ENOENT`, `NoSuchKey`) is not one. */
export const isErrorCode = (code: unknown): code is ErrorCode =>
  typeof code === 'string' && Object.hasOwn(ErrorCode, code);

/** Also true for a SluiceError from another copy of this module, or one rebuilt from its JSON. */
export const isSluiceError = (error: unknown): error is SluiceError =>
  typeof error === 'object' &&
  error !== null &&
  isErrorCode((error as { code?: unknown }).code) &&
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
