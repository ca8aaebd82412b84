/**
 * Commit provenance at plan time (issue 19, docs/provenance.md): which targets a commit may
 * deploy to, given the trust policy and the commit signatures. Pure decisions; the signatures are
 * read and checked cryptographically by a CommitVerifier adapter.
 */
import { ConfigError } from '../errors.ts';
import type { CommitSignature, CommitVerifier, GitSource } from '../ports/index.ts';
import { type AppConfig, CONFIG_FILE, type TargetConfig } from '../schemas/config.ts';
import { type TrustPolicy, type TrustRule, trustPolicySchema } from '../schemas/trust.ts';
import { appTouchedBy, matchesSelector, parseYamlWith } from './config.ts';

/** What plan needs to enforce a trust policy; absent, nothing is verified (no policy configured). */
export interface TrustDeps {
  readonly policy: TrustPolicy;
  readonly verifier: CommitVerifier;
}

export type RefusalReason =
  | 'unsigned'
  | 'bad-signature'
  | 'unknown-signer'
  | 'signer-not-allowed'
  | 'no-trust-rule';

/** Why one target may not receive a commit. */
export interface Refusal {
  readonly reason: RefusalReason;
  /** The commit whose signature failed (the planned one, or an earlier one in every-commit mode). */
  readonly commit: string;
  readonly fingerprint?: string;
  readonly signer?: string;
  readonly message: string;
}

/** At most this many commits are walked back in every-commit mode. */
export const MAX_COMMITS_CHECKED = 200;

/**
 * Parses a trust policy file. Beyond the schema, every name a rule lists must be a signer, and
 * names are unique; each error names the field (`rules[0].signers[1]`) and the fix.
 */
export const parseTrustPolicy = (text: string, file: string): TrustPolicy =>
  checkTrustPolicy(parseYamlWith(trustPolicySchema, text, file), file);

/**
 * What the schema cannot say: names are unique and every rule's signer is listed. `prefix` puts
 * the policy inside a larger file (`management.trust.` in sluice.deploy.yaml).
 */
export const checkTrustPolicy = (policy: TrustPolicy, file: string, prefix = ''): TrustPolicy => {
  const names = policy.signers.map((s) => s.name);
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) {
      throw new ConfigError(
        file,
        `${prefix}signers[${i}].name`,
        `signer "${name}" is listed twice`,
        'give each signer a unique name',
      );
    }
  });
  policy.rules.forEach((rule, i) => {
    rule.signers.forEach((name, j) => {
      if (!names.includes(name)) {
        throw new ConfigError(
          file,
          `${prefix}rules[${i}].signers[${j}]`,
          `"${name}" is not a signer of this file`,
          `add a signer named "${name}" under signers, or use one of ${names.map((n) => `"${n}"`).join(', ')}`,
        );
      }
    });
  });
  return policy;
};

/** The rule deciding for a target: the first whose selector matches it. */
export const ruleFor = (policy: TrustPolicy, target: TargetConfig): TrustRule | undefined =>
  policy.rules.find((rule) => matchesSelector(rule.targets, target));

const short = (sha: string) => sha.slice(0, 7);

/** Whether one checked signature lets `commit` reach `target` under `rule`; undefined when it does. */
export const judgeSignature = (
  signature: CommitSignature,
  commit: string,
  target: string,
  rule: TrustRule | undefined,
): Refusal | undefined => {
  if (rule === undefined) {
    return {
      reason: 'no-trust-rule',
      commit,
      message: `no trust rule matches target ${target}; add a rule whose targets select it`,
    };
  }
  switch (signature.status) {
    case 'unsigned':
      return { reason: 'unsigned', commit, message: `unsigned commit ${short(commit)}` };
    case 'unknown-signer':
      return {
        reason: 'unknown-signer',
        commit,
        fingerprint: signature.fingerprint,
        message: `unknown signer ${signature.fingerprint} on commit ${short(commit)}`,
      };
    case 'bad-signature':
      return {
        reason: 'bad-signature',
        commit,
        fingerprint: signature.fingerprint,
        ...(signature.signer ? { signer: signature.signer } : {}),
        message: `bad signature ${signature.signer ? `by ${signature.signer} ` : ''}(${signature.fingerprint}) on commit ${short(commit)}: it does not match the commit's content`,
      };
    case 'valid':
      return rule.signers.includes(signature.signer)
        ? undefined
        : {
            reason: 'signer-not-allowed',
            commit,
            fingerprint: signature.fingerprint,
            signer: signature.signer,
            message: `signer ${signature.signer} not allowed for ${target} (commit ${short(commit)}); allowed: ${rule.signers.join(', ')}`,
          };
  }
};

export interface ReleaseCheck {
  readonly repoUrl: string;
  readonly branch: string;
  /** The planned commit. */
  readonly commit: string;
  readonly app: AppConfig;
  readonly targets: readonly TargetConfig[];
  /** The commit last deployed to `target` for this app, or null (every-commit mode starts there). */
  readonly lastDeployed: (target: string) => Promise<string | null>;
}

/**
 * Checks one app's targets for one planned commit. Returns the refused targets with the reason;
 * targets not in the map may deploy. Each commit's signature is checked once per call of
 * `checker` (share one checker across the apps of a plan).
 */
export const provenanceChecker = (trust: TrustDeps, git: GitSource) => {
  const signatures = new Map<string, Promise<CommitSignature>>();
  const paths = new Map<string, Promise<string[] | undefined>>();
  const signatureOf = (repoUrl: string, branch: string, commit: string) => {
    let found = signatures.get(commit);
    if (!found) {
      found = trust.verifier.verify(repoUrl, branch, commit);
      signatures.set(commit, found);
    }
    return found;
  };
  const changedBy = (repoUrl: string, branch: string, parent: string | null, commit: string) => {
    const key = `${parent}..${commit}`;
    let found = paths.get(key);
    if (!found) {
      found = git.changedPaths(repoUrl, branch, parent, commit);
      paths.set(key, found);
    }
    return found;
  };

  /** The commits whose signatures decide for a target: the planned one, and in every-commit mode the app's commits since `from`. */
  const commitsToCheck = async (input: ReleaseCheck, from: string | null): Promise<string[]> => {
    // Nothing deployed yet: there is no range, only the planned commit.
    if (trust.policy.mode === 'head' || from === null || from === input.commit) return [input.commit];
    const range = await trust.verifier.commitsSince(
      input.repoUrl,
      input.branch,
      from,
      input.commit,
      MAX_COMMITS_CHECKED,
    );
    const relevant: string[] = [];
    for (const { commit, parent } of range) {
      if (commit === input.commit) {
        relevant.push(commit);
        continue;
      }
      const changed = await changedBy(input.repoUrl, input.branch, parent, commit);
      // Unknown changes (history cut short) count as touching the app: checked, never skipped.
      if (changed === undefined || changed.some((p) => p === CONFIG_FILE || appTouchedBy(input.app, p))) {
        relevant.push(commit);
      }
    }
    return relevant.includes(input.commit) ? relevant : [input.commit, ...relevant];
  };

  const check = async (input: ReleaseCheck): Promise<Map<string, Refusal>> => {
    const refused = new Map<string, Refusal>();
    for (const target of input.targets) {
      const rule = ruleFor(trust.policy, target);
      const commits = rule
        ? await commitsToCheck(input, await input.lastDeployed(target.name))
        : [input.commit];
      for (const commit of commits) {
        const signature = await signatureOf(input.repoUrl, input.branch, commit);
        const refusal = judgeSignature(signature, commit, target.name, rule);
        if (refusal) {
          refused.set(target.name, refusal);
          break;
        }
      }
    }
    return refused;
  };
  return Object.assign(check, { signatureOf });
};

/** One app's targets refused for the same reason. */
export interface AppRefusal {
  readonly app: string;
  readonly targets: string[];
  readonly refusal: Refusal;
}

/**
 * Splits a plan's releases into what may deploy and what the trust policy refuses, per target.
 * A release whose every target is refused is dropped; its refusals are returned grouped per app
 * and reason, so each becomes one Release Rejected event.
 */
export const trustedReleases = async <R extends { spec: { app: string }; targets: { name: string }[] }>(
  trust: TrustDeps,
  git: GitSource,
  input: {
    readonly repoUrl: string;
    readonly branch: string;
    readonly commit: string;
    readonly apps: readonly AppConfig[];
    readonly targets: readonly TargetConfig[];
    readonly releases: readonly R[];
    readonly lastDeployed: (app: string, target: string) => Promise<string | null>;
  },
): Promise<{ releases: R[]; refused: AppRefusal[]; signature?: { signer: string; fingerprint: string } }> => {
  const check = provenanceChecker(trust, git);
  const kept: R[] = [];
  const refused = new Map<string, AppRefusal>();
  for (const release of input.releases) {
    const app = input.apps.find((a) => a.name === release.spec.app);
    const targets = input.targets.filter((t) => release.targets.some((r) => r.name === t.name));
    if (!app) continue;
    const refusals = await check({
      repoUrl: input.repoUrl,
      branch: input.branch,
      commit: input.commit,
      app,
      targets,
      lastDeployed: (target) => input.lastDeployed(app.name, target),
    });
    for (const [target, refusal] of refusals) {
      const key = `${app.name}\n${refusal.message}`;
      const group = refused.get(key) ?? { app: app.name, targets: [], refusal };
      group.targets.push(target);
      refused.set(key, group);
    }
    const allowed = release.targets.filter((t) => !refusals.has(t.name));
    if (allowed.length > 0) kept.push({ ...release, targets: allowed });
  }
  // Who signed the planned commit, for Release Planned and `sluice trace` (attribution).
  const head =
    kept.length > 0 ? await check.signatureOf(input.repoUrl, input.branch, input.commit) : undefined;
  return {
    releases: kept,
    refused: [...refused.values()],
    ...(head?.status === 'valid'
      ? { signature: { signer: head.signer, fingerprint: head.fingerprint } }
      : {}),
  };
};
