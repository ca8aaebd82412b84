/** Lambda entry point: the plan stage on AWS adapters, built once per cold start. */
import { readDeployRepos } from '../../shared/config/env.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { bus, clock, deadLetters, git, ledger, statusProvider } from '../commons/aws.ts';

export const handler = createPipeline({
  clock,
  bus: bus(),
  ledger: ledger(),
  git: git(),
  // The deploy branches and clone URLs of the configured repos (SLUICE_REPOS).
  repos: readDeployRepos(),
  deadLetters: deadLetters(),
  ...(await statusProvider()),
}).handler('plan');
