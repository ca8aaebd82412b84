/** Making Git agree with the clusters after a rollback: a revert commit, or a pull request. */
import { isSluiceError } from '../../errors.ts';
import type { OutboundEvent, RollbackRequested } from '../../schemas/events.ts';
import { claim, type RollbackDeps, short } from './deps.ts';

export const revertMessage = (request: RollbackRequested, good: string, paths: readonly string[]): string =>
  [
    `Roll back ${request.app} to ${short(good)}: revert ${short(request.commit)}`,
    '',
    `${request.reason}.`,
    `Sluice re-deployed the last known good release of ${request.app} (${short(good)}) and`,
    `restores ${paths.join(', ')} to it, so Git matches the clusters again.`,
    '',
    `Sluice-Revert-Of: ${request.commit}`,
    ...(request.alarm ? [`Sluice-Alarm: ${request.alarm.name}`] : []),
    `Sluice-Trace: ${request.traceId}`,
  ].join('\n');

export const writeRevert = async (
  deps: RollbackDeps,
  request: RollbackRequested,
  appPath: string,
  good: string,
  review: boolean,
  stillBad: string[] = [],
): Promise<OutboundEvent[]> => {
  const key = `revert:${request.repo}:${request.app}:${request.commit}`;
  if (stillBad.length > 0) {
    const event: OutboundEvent = {
      detailType: 'Revert Failed',
      detail: {
        schemaVersion: 1,
        traceId: request.traceId,
        repo: request.repo,
        branch: request.branch,
        commit: request.commit,
        occurredAt: deps.clock.now().toISOString(),
        app: request.app,
        paths: [appPath],
        reason: 'partial',
        message: `${stillBad.join(', ')} still run ${short(request.commit)}, so a revert in Git would roll them back too; none was written. Fix: \`sluice rollback --app ${request.app}\` for every target, or push a fix`,
      },
    };
    await deps.bus.publish([event]);
    return [event];
  }
  if (!(await claim(deps, key))) return [];
  const paths = [appPath];
  const base = {
    schemaVersion: 1 as const,
    traceId: request.traceId,
    repo: request.repo,
    branch: request.branch,
    commit: request.commit,
    app: request.app,
    paths,
  };
  const failed = (message: string, reason: 'conflict' | 'error' = 'error', head?: string): OutboundEvent => ({
    detailType: 'Revert Failed',
    detail: {
      ...base,
      occurredAt: deps.clock.now().toISOString(),
      reason,
      message,
      ...(head ? { head } : {}),
    },
  });
  let event: OutboundEvent;
  try {
    if (!deps.writer) {
      event = failed('no Git writer is configured; revert the commit by hand so Git matches the clusters');
    } else {
      const pushTo = review ? `sluice/revert-${short(request.commit)}-${request.app}` : undefined;
      const message = revertMessage(request, good, paths);
      const result = await deps.writer.revertPaths({
        repoUrl: deps.repoUrl(request.repo),
        branch: request.branch,
        revertOf: request.commit,
        restoreTo: good,
        paths,
        message,
        ...(pushTo ? { pushTo } : {}),
      });
      if (result.status === 'conflict') {
        event = failed(
          `newer commits changed ${result.paths.join(', ')} after ${short(request.commit)} (head ${short(result.head)}); the revert was not written and nothing was forced. Fix: revert ${short(request.commit)} by hand`,
          'conflict',
          result.head,
        );
      } else if (result.status === 'nothing-to-revert') {
        event = failed(
          `${paths.join(', ')} at ${short(result.head)} already match ${short(good)}; nothing to revert`,
          'error',
          result.head,
        );
      } else {
        const pullRequest =
          pushTo && deps.pullRequests
            ? await deps.pullRequests.openPullRequest({
                repo: request.repo,
                base: request.branch,
                head: pushTo,
                title: message.split('\n')[0] as string,
                body: message.split('\n').slice(2).join('\n'),
              })
            : undefined;
        event =
          pushTo && !pullRequest
            ? failed(
                `the revert is on branch ${pushTo} but no Git provider is configured to open the pull request; open it by hand`,
              )
            : {
                detailType: 'Revert Committed',
                detail: {
                  ...base,
                  occurredAt: deps.clock.now().toISOString(),
                  revertCommit: result.commit,
                  ...(pullRequest && pushTo ? { pullRequest: { ...pullRequest, branch: pushTo } } : {}),
                },
              };
      }
    }
  } catch (error) {
    if (!isSluiceError(error) || error.retryable) {
      await deps.claims.release(key);
      throw error;
    }
    event = failed(error.message);
  }
  await deps.bus.publish([event]);
  return [event];
};
