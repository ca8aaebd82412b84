/** Lambda entry point: the plan stage on AWS adapters, built once per cold start. */
import { trustFromPolicy } from '../../shared/adapters/git/commit-signatures.ts';
import { readDeployRepos, readTrustPolicy, SLUICE_ENV } from '../../shared/config/env.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { bus, clock, deadLetters, git, ledger, statusProvider } from '../commons/aws.ts';

const source = git();
// The trust policy of the deployment config (SLUICE_TRUST_POLICY): commit signatures checked at plan.
const policy = readTrustPolicy();

export const handler = createPipeline({
  clock,
  bus: bus(),
  ledger: ledger(),
  git: source,
  ...(policy ? { trust: await trustFromPolicy(policy, source, SLUICE_ENV.trust) } : {}),
  // The deploy branches and clone URLs of the configured repos (SLUICE_REPOS).
  repos: readDeployRepos(),
  deadLetters: deadLetters(),
  ...(await statusProvider()),
}).handler('plan');
