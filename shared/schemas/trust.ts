import { z } from 'zod';
import { selectorSchema } from './config.ts';

/**
 * The trust policy (issue 19, docs/provenance.md): who may sign the commits that deploy to which
 * targets. It lives outside the config repository — `sluice dev --trust FILE`, or the deployment
 * config in AWS — so a push can never widen it.
 */

/** A name a rule refers to: lower-case letters, digits, `-`, `_`, `.`. */
const signerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be lower-case letters, digits, ".", "_" or "-" (up to 63)');

export const trustSignerSchema = z
  .object({
    name: signerName,
    /** An OpenSSH public key line: `ssh-ed25519 AAAA… comment` (ed25519, rsa, ecdsa-sha2-nistp256/384/521). */
    ssh: z.string().min(1).optional(),
    /** An armored OpenPGP public key block. */
    pgp: z.string().min(1).optional(),
    /**
     * `true`: the key Sluice itself signs its rollback reverts with (`sluice dev`: the workdir's
     * `state/commit-signing.pub`). Name it in the rules where a revert may deploy.
     */
    sluice: z.literal(true).optional(),
  })
  .strict()
  .refine((s) => [s.ssh, s.pgp, s.sluice].filter((k) => k !== undefined).length === 1, {
    message: 'must have exactly one key: "ssh", "pgp" or "sluice: true"',
    params: {
      fix: 'give the signer one key, an "ssh:" public key line, a "pgp:" armored public key, or "sluice: true" for Sluice\'s own revert-signing key',
    },
  });

export const trustRuleSchema = z
  .object({
    /** The same selector as apps[].targets; `{}` matches every target. */
    targets: selectorSchema,
    /** Names from `signers`: who may sign commits deployed to the matching targets. */
    signers: z.array(signerName).min(1),
  })
  .strict();

export const trustPolicySchema = z
  .object({
    signers: z.array(trustSignerSchema).min(1),
    /** The first rule whose selector matches a target decides for it; no rule refuses the target. */
    rules: z.array(trustRuleSchema).min(1),
    /**
     * `head`: the planned commit must be signed. `every-commit`: every commit since the one last
     * deployed on the target that touches the app's paths, and the planned commit.
     */
    mode: z.enum(['head', 'every-commit']).default('head'),
  })
  .strict();

export type TrustSigner = z.infer<typeof trustSignerSchema>;
export type TrustRule = z.infer<typeof trustRuleSchema>;
export type TrustPolicy = z.infer<typeof trustPolicySchema>;
export type TrustMode = TrustPolicy['mode'];
