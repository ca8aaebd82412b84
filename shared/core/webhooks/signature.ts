import { signHmacHex, verifyPrefixedHmac } from './common.ts';

/** The header GitHub signs deliveries with (the SHA-1 `x-hub-signature` is legacy and never accepted). */
export const GITHUB_SIGNATURE_HEADER = 'x-hub-signature-256';

/** `sha256=<hex>` over the raw body, exactly as GitHub computes `X-Hub-Signature-256`. */
export const signGithub = (secret: string, body: Uint8Array): string => `sha256=${signHmacHex(secret, body)}`;

/**
 * True when `header` is a valid signature of the raw `body` under any of `secrets` (current and
 * previous during a rotation), compared in constant time; empty secrets are ignored.
 */
export const verifyGithub = (
  secrets: readonly string[],
  header: string | undefined,
  body: Uint8Array,
): boolean => verifyPrefixedHmac(secrets, header, body);
