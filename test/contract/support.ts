/** Shared by the port contracts: sample values and a way to look at a rejection's code. */
import { isSluiceError } from '../../shared/errors.ts';

/** A full 40-hex commit id made from a number. */
export const sha = (n: number): string => n.toString(16).padStart(40, '0');
/** A `sha256:` digest made from a number. */
export const digestOf = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

/** The rejection of `promise` as `{ code, retryable, message }`, or `resolved` when it did not reject. */
export const rejectionOf = async (
  promise: Promise<unknown>,
): Promise<{ code: string; retryable: boolean; message: string } | 'resolved'> => {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    if (!isSluiceError(error)) throw error;
    return { code: error.code, retryable: error.retryable, message: error.message };
  }
};
