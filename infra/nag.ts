import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag AwsSolutions finding (`L1`, `IAM5[Resource::*]`, …) on `scope` and
 * everything under it. The reason is mandatory and is kept in the cloud assembly's metadata, so an
 * auditor reads why the finding is acceptable next to the resource.
 */
export const acceptFinding = (scope: IConstruct, rule: string, reason: string): void => {
  if (reason.trim().length < 20) {
    throw new Error(
      `cdk-nag acknowledgement of AwsSolutions-${rule} on ${scope.node.path}: reason ${JSON.stringify(reason)} ` +
        'is missing or too short. Fix: say in a sentence why the finding is acceptable here',
    );
  }
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
};
