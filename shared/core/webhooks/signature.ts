import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header GitHub signs deliveries with (the SHA-1 `x-hub-signature` is legacy and never accepted). */
export const GITHUB_SIGNATURE_HEADER = 'x-hub-signature-256';

const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

const hmac = (secret: string, body: Uint8Array): Buffer => createHmac('sha256', secret).update(body).digest();

/** `sha256=<hex>` over the raw body, exactly as GitHub computes `X-Hub-Signature-256`. */
export const signGithub = (secret: string, body: Uint8Array): string =>
  `sha256=${hmac(secret, body).toString('hex')}`;

/**
 * True when `header` is a valid signature of the raw `body` under any of `secrets` (current and
 * previous during a rotation). Empty secrets are ignored: an HMAC keyed with "" proves nothing.
 * Every secret is tried, and compared in constant time on equal-length buffers, so the answer's
 * timing reveals neither which secret matched nor how much of the digest was right.
 */
export const verifyGithub = (
  secrets: readonly string[],
  header: string | undefined,
  body: Uint8Array,
): boolean => {
  const hex = header === undefined ? undefined : SIGNATURE.exec(header.trim())?.[1];
  if (hex === undefined) return false;
  const given = Buffer.from(hex, 'hex');
  let valid = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = hmac(secret, body);
    // Both are 32 bytes here; the length check keeps timingSafeEqual from throwing if that ever changes.
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
};
