/**
 * The CDK app: one ManagementStack and one RegionalAgentStack per configured account/region.
 * Run by `cdk synth`/`cdk deploy` on the pinned Node (type stripping): `node infra/app.ts`.
 */
import { App, Tags, Validations } from 'aws-cdk-lib';
import cdkNag from 'cdk-nag';
import { type DeployConfig, loadDeployConfig, regionalStackName } from './config.ts';
import { ManagementStack } from './stacks/management-stack.ts';
import { RegionalAgentStack } from './stacks/regional-agent-stack.ts';

export interface SluiceApp {
  readonly app: App;
  readonly management: ManagementStack;
  readonly regional: readonly RegionalAgentStack[];
}

// cdk-nag is CommonJS without statically detectable named exports.
const { AwsSolutionsChecks } = cdkNag;

/** Builds every stack of a validated config, with the cdk-nag AwsSolutions checks attached. */
export const buildApp = (config: DeployConfig, app: App = new App()): SluiceApp => {
  const management = new ManagementStack(app, config.management.stackName, {
    env: { account: config.management.account, region: config.management.region },
    description: 'Sluice control plane: webhook API, sluice bus, queues, functions, bundles and ledger',
    config: config.management,
    regions: config.regions,
  });
  const regional = config.regions.map(
    (r) =>
      new RegionalAgentStack(app, regionalStackName(r), {
        env: { account: r.account, region: r.region },
        description: `Sluice regional agent for ${r.account}/${r.region}`,
        config: r,
        management: config.management,
      }),
  );
  Tags.of(app).add('app', 'sluice');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, management, regional };
};

const main = (): void => {
  const app = new App();
  const file = app.node.tryGetContext('sluice:config') as string | undefined;
  const config = loadDeployConfig({
    ...(file === undefined ? {} : { file }),
    context: app.node.tryGetContext('sluice'),
  });
  buildApp(config, app);
  app.synth();
};

if (import.meta.main) {
  try {
    main();
  } catch (error) {
    // A config mistake is the user's to fix: print the message alone, not a stack trace.
    if ((error as { code?: unknown }).code === 'CONFIG_INVALID') {
      console.error((error as Error).message);
      process.exit(1);
    }
    throw error;
  }
}
