import { printable } from '../shared/printable.ts';
import type { Envelope, EventDetail } from '../shared/schemas/events.ts';

const short = (sha: string | undefined) => (sha ? sha.slice(0, 7) : '-------');
const pad = (word: string) => word.padEnd(10);

/**
 * One line a person can follow for each event on the bus; `sluice dev` prints them as they
 * happen and `sluice trace` prints a push's whole story with them. Branch, repo, path, app and
 * message text come from pushes: every line goes through printable(), so a control character or
 * an ANSI escape in them is shown escaped, never sent to the terminal.
 */
export const describeEvent = (envelope: Envelope): string[] => describeRaw(envelope).map(printable);

const describeRaw = (envelope: Envelope): string[] => {
  const type = envelope['detail-type'];
  const d = envelope.detail as Record<string, unknown>;
  switch (type) {
    case 'Commit Pushed': {
      const e = d as EventDetail<'Commit Pushed'>;
      const who = e.pusher ? ` by ${e.pusher}` : '';
      const msg = e.message ? `: "${e.message.split('\n')[0]?.slice(0, 60)}"` : '';
      const what = e.deleted ? 'deleted' : e.forced ? 'force-pushed' : 'pushed';
      return [
        `${pad('push')} ${e.repo} ${e.branch}@${short(e.commit)} ${what}${who}${msg} (trace ${e.traceId.slice(0, 8)})`,
      ];
    }
    case 'Release Skipped': {
      const e = d as EventDetail<'Release Skipped'>;
      return [`${pad('skipped')} ${short(e.commit)} ${e.reason}: ${e.message}`];
    }
    case 'Release Planned': {
      const e = d as EventDetail<'Release Planned'>;
      const apps = e.releases.map(
        (r) =>
          `${r.spec.app}${r.spec.environment ? `[${r.spec.environment}]` : ''} → ${r.targets.map((t) => t.name).join(', ')}`,
      );
      const since = e.previousCommit
        ? `since ${short(e.previousCommit)}, ${e.changedPaths} changed path(s)`
        : 'first plan';
      const signed = e.commitSignature
        ? [`${pad('')}   commit signed by ${e.commitSignature.signer} (key ${e.commitSignature.fingerprint})`]
        : [];
      return [
        `${pad('planned')} ${short(e.commit)} generation ${e.generation} (${since})`,
        ...signed,
        ...apps.map((a) => `${pad('')}   ${a}`),
      ];
    }
    case 'Bundle Verified': {
      const e = d as EventDetail<'Bundle Verified'>;
      return [
        `${pad('verified')} ${short(e.commit)} ${e.app}${e.environment ? `[${e.environment}]` : ''} ${e.bundle.digest.slice(0, 19)}… ${e.bundle.objects} object(s), policy passed`,
      ];
    }
    case 'Policy Rejected': {
      const e = d as EventDetail<'Policy Rejected'>;
      return [
        `${pad('rejected')} ${short(e.commit)} ${e.app}${e.environment ? `[${e.environment}]` : ''}: ${e.violations.length} policy violation(s); not deployed to ${e.targets.join(', ')}`,
        ...e.violations.map(
          (v) => `${pad('')}   ${v.policy} ${v.object} (${v.file}): ${v.message}. Fix: ${v.fix}`,
        ),
      ];
    }
    case 'Release Rejected': {
      const e = d as EventDetail<'Release Rejected'>;
      const who = e.signer ? ` signer ${e.signer}` : '';
      const key = e.fingerprint ? ` key ${e.fingerprint}` : '';
      return [
        `${pad('untrusted')} ${short(e.commit)} ${e.app} not deployed to ${e.targets.join(', ')}: ${e.reason}: ${e.message}`,
        ...(who || key ? [`${pad('')}   commit ${short(e.signedCommit)}${who}${key}`] : []),
      ];
    }
    case 'Render Failed': {
      const e = d as EventDetail<'Render Failed'>;
      return [`${pad('failed')} ${short(e.commit)} ${e.app} did not render: ${e.error.message}`];
    }
    case 'Apply Requested': {
      const e = d as EventDetail<'Apply Requested'>;
      const rollback = e.rollbackOf
        ? ` (rollback of ${short(e.rollbackOf)}, generation ${e.generation})`
        : '';
      const key = e.bundle.signature ? `, bundle signed by key ${e.bundle.signature.keyId}` : '';
      return [
        `${pad('dispatch')} ${short(e.commit)} ${e.app} → ${e.target.name} (${e.target.region})${rollback}${key}`,
      ];
    }
    case 'Deployment Succeeded': {
      const e = d as EventDetail<'Deployment Succeeded'>;
      return [
        `${pad(e.rollbackOf ? 'rolledback' : 'healthy')} ${short(e.commit)} ${e.app}@${e.target}: ${e.applied} applied, ${e.unchanged} unchanged, ${e.pruned} pruned in ${Math.round(e.durationMs)} ms`,
        ...(e.bundleKey
          ? [`${pad('')}   bundle signature by key ${e.bundleKey} verified by the agent on ${e.target}`]
          : []),
      ];
    }
    case 'Deployment Failed': {
      const e = d as EventDetail<'Deployment Failed'>;
      return [`${pad('failed')} ${short(e.commit)} ${e.app}@${e.target}: ${e.reason}: ${e.message}`];
    }
    case 'Deployment Skipped': {
      const e = d as EventDetail<'Deployment Skipped'>;
      return [`${pad('refused')} ${short(e.commit)} ${e.app}@${e.target}: ${e.message}`];
    }
    case 'Removal Requested': {
      const e = d as EventDetail<'Removal Requested'>;
      return [`${pad('remove')} ${short(e.commit)} ${e.app} → ${e.target.name}: ${e.reason}`];
    }
    case 'Deployment Removed': {
      const e = d as EventDetail<'Deployment Removed'>;
      return [
        `${pad('removed')} ${short(e.commit)} ${e.app}@${e.target}: ${e.removed} object(s) deleted (${e.reason})`,
      ];
    }
    case 'Rollback Requested': {
      const e = d as EventDetail<'Rollback Requested'>;
      const why = e.trigger === 'alarm' ? 'alarmed' : e.trigger === 'manual' ? 'rollback' : 'failed';
      return [
        `${pad(why)} ${short(e.commit)} ${e.app}@${e.targets.join(',')}: rollback requested (${e.trigger}): ${e.reason}${e.toCommit ? ` → ${short(e.toCommit)}` : ''}`,
      ];
    }
    case 'Rollback Skipped': {
      const e = d as EventDetail<'Rollback Skipped'>;
      return [
        `${pad('no-rollbk')} ${short(e.commit)} ${e.app}@${e.targets.join(',')} ${e.reason}: ${e.message}`,
      ];
    }
    case 'Revert Committed': {
      const e = d as EventDetail<'Revert Committed'>;
      const where = e.pullRequest ? ` on ${e.pullRequest.branch}, pull request ${e.pullRequest.url}` : '';
      return [
        `${pad('reverted')} ${short(e.commit)} ${e.app}: revert commit ${short(e.revertCommit)} (${e.paths.join(', ')})${where}`,
      ];
    }
    case 'Revert Failed': {
      const e = d as EventDetail<'Revert Failed'>;
      return [`${pad('no-revert')} ${short(e.commit)} ${e.app} ${e.reason}: ${e.message}`];
    }
    case 'Rollout Progressed': {
      // Progressive delivery, wave by wave: started, healthy, baking, baked, approved, halted.
      const e = d as EventDetail<'Rollout Progressed'>;
      return [`${pad('wave')} ${short(e.commit)} ${e.app}/${e.wave} ${e.step}: ${e.message}`];
    }
    case 'Rollout Approved': {
      const e = d as EventDetail<'Rollout Approved'>;
      return [`${pad('approved')} ${short(e.commit)} ${e.app}/${e.wave}${e.by ? ` by ${e.by}` : ''}`];
    }
    case 'CloudWatch Alarm State Change': {
      const e = d as { alarmName?: string; state?: { value?: string; reason?: string } };
      return [
        `${pad('alarm')} ${e.alarmName} → ${e.state?.value}${e.state?.reason ? `: ${e.state.reason}` : ''}`,
      ];
    }
    default:
      return [
        `${pad(type.toLowerCase().split(' ')[0] ?? 'event')} ${short(d.commit as string | undefined)} ${type}`,
      ];
  }
};

export const timeOf = (envelope: Envelope): string => {
  const occurred = (envelope.detail as { occurredAt?: string }).occurredAt ?? envelope.time;
  return occurred.slice(11, 23);
};

/** Prints an event as `describeEvent` lines, the first with its time, the rest indented under it. */
export const printEvent =
  (print: (line: string) => void) =>
  (envelope: Envelope): void => {
    const [first, ...rest] = describeEvent(envelope);
    print(`${timeOf(envelope)}  ${first}`);
    for (const line of rest) print(`${' '.repeat(14)}${line}`);
  };
