import { readFile } from 'node:fs/promises';
import * as core from '@actions/core';
import type { getOctokit } from '@actions/github';
import type { Runtime } from '../../app/runtime';
import { FileStore } from '../../store/file/file-store';
import {
  confirmGate,
  environmentProtections,
  fetchReviews,
  gatePassesOf,
  protectionWarning,
  rejectionOf,
  repositoryVisibility,
  reviewerWho,
} from './gates';
import type { GateInputs } from './step-inputs';

type Octokit = ReturnType<typeof getOctokit>;

/** What the gates mean for one step, worked out before the runtime opens (the `who`). */
export interface GatePlan {
  /** The record's `who` for this step (the approver, or who rejected); undefined: the default. */
  who?: string;
  /** Goes before the next deployment status description. */
  statusNote?: string;
  /** Markdown above the one page. */
  notes: string;
  /** The `gate` event the step records before it acts. */
  event?: { message: string; level?: 'warn' };
  /** stop: a gate job failed, but nobody rejected it — the release is left for a re-run. */
  leave?: string;
}

export interface GateContext {
  step: string;
  octokit: Octokit;
  repo: { owner: string; repo: string };
  runId: number;
  attempt: number;
  /** Input `environment`: the gates default to `<environment>-bake` and `<environment>`. */
  environment: string;
  /** Where the restored record is (the store dir of the step). */
  storeDir: string;
  group: string;
  env: Record<string, string | undefined>;
  inputs: GateInputs;
}

/**
 * G5 for the step about to run: bake and roll-batches (also the continue job) need a person's
 * approval of their own gate job, or the explicit opt-out; stop tells a rejected gate from a
 * job that failed; deploy-bastion warns about gates that will not hold.
 */
export async function planGates(c: GateContext): Promise<GatePlan> {
  switch (c.step) {
    case 'bake':
    case 'roll-batches': {
      const gate =
        c.inputs['gate-environment'] ??
        (c.step === 'bake' ? `${c.environment}-bake` : c.environment);
      const events = await new FileStore(c.storeDir).events(c.group);
      const d = await confirmGate({
        octokit: c.octokit,
        repo: c.repo,
        runId: c.runId,
        attempt: c.attempt,
        step: c.step,
        environment: gate,
        allowUnprotected: c.inputs['allow-unprotected-gates'] === true,
        passes: gatePassesOf(events, c.runId),
      });
      if (d.pass) core.info(d.event.message);
      else core.warning(d.event.message);
      return {
        ...(d.who ? { who: d.who } : {}),
        statusNote: d.statusNote,
        notes: d.notes,
        event: d.event,
      };
    }
    case 'stop': {
      const failed = c.inputs['failed-gates'] ?? [];
      // Empty: the stop job runs because the run was cancelled — a stop, as before.
      if (failed.length === 0) return { notes: '' };
      const rejection = rejectionOf(await fetchReviews(c.octokit, c.repo, c.runId), failed);
      if (rejection) {
        const { login, comment } = rejection.review;
        core.info(`gate ${rejection.environment} was rejected by ${login}: the release stops`);
        return {
          who: reviewerWho(login, 'rejected', rejection.environment, comment),
          notes: `## Gate \`${rejection.environment}\`: rejected by **${login}**${comment.trim() ? ` — “${comment.trim().replace(/\s+/g, ' ').slice(0, 500)}”` : ''}\n`,
        };
      }
      const leave =
        `The job behind ${failed.map((g) => `\`${g}\``).join(', ')} failed before it set its ` +
        'outputs (checkout failed, the runner was lost, …), and nobody rejected the gate: the ' +
        'release is left where it is, not aborted. Re-run failed jobs to go on (the gate asks ' +
        'again), or reject the gate or run stop to end it.';
      core.warning(leave);
      return { notes: `## A job failed — not a rejected gate\n${leave}\n`, leave };
    }
    case 'deploy-bastion': {
      const gates = c.inputs['gate-environments'] ?? [];
      const names = gates.length ? gates : [`${c.environment}-bake`, c.environment];
      const visibility = await eventVisibility(c.env.GITHUB_EVENT_PATH);
      const warnings: string[] = [];
      const protections = await environmentProtections(c.octokit, c.repo, names);
      for (const name of names) {
        const w = protectionWarning(name, protections.get(name)!, visibility);
        if (w) {
          core.warning(w);
          warnings.push(w);
        }
      }
      return {
        notes: warnings.length
          ? `## ⚠️ Gates that will not hold\n${warnings.map((w) => `- ${w}`).join('\n')}\n`
          : '',
      };
    }
    default:
      return { notes: '' };
  }
}

/** The plan's `gate` event, in the record of the release it acts on. */
export async function recordGate(rt: Runtime, plan: GatePlan): Promise<void> {
  if (!plan.event) return;
  const group = rt.loaded.group.name;
  const d = (await rt.ports.store.load(group))?.current;
  if (!d) return;
  await rt.ports.store.append(group, {
    at: new Date().toISOString(),
    group,
    deployment: d.id,
    type: 'gate',
    message: plan.event.message,
    ...(plan.event.level ? { level: plan.event.level } : {}),
  });
}

async function eventVisibility(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    return repositoryVisibility(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return undefined;
  }
}
