import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../../src/notify/sign';
import { makeActionsFleet, runAction, type ActionsFleet } from '../../support/actions-runner';
import { approveGate } from '../../support/github-double/approvals';
import { startGitHubDouble, type GitHubDouble } from '../../support/github-double/github-double';
import { httpReceiver, type HttpReceiver } from '../../support/notify-receivers';

const SECRET = 'whsec-actions-77';

// Issue 18 through the action bundles as the runner starts them (127.0.26.40–52): the group
// file's notify: section, the secret from the step's env, the link to the run by default.
describe('release actions send notifications', () => {
  let double: GitHubDouble;
  let fleet: ActionsFleet;
  let hook: HttpReceiver;

  beforeAll(async () => {
    double = await startGitHubDouble({
      owner: 'acme',
      repo: 'shop',
      host: '127.0.26.50',
      port: 26050,
      storagePort: 26051,
    });
    await double.storage();
    hook = await httpReceiver({ host: '127.0.26.52', port: 26052 });
    fleet = await makeActionsFleet({
      group: 'notified',
      addresses: ['127.0.26.40', '127.0.26.41'],
      port: 26040,
      extra: `notify:\n  webhook: { url: "${hook.url}", secret: env:ROLLGATE_WEBHOOK_SECRET }`,
    });
    await fleet.build('1.0.0', { startDelayMs: 50 });
  });
  afterAll(async () => {
    await fleet?.cleanup();
    await hook?.close();
    await double?.stop();
  });

  const step = (name: string, inputs: Record<string, string>) =>
    runAction(name, {
      double,
      ids: { runId: 2601, jobId: name },
      job: name,
      cwd: fleet.workspace,
      inputs: { 'group-file': fleet.groupFile, environment: 'production', ...inputs },
      env: { ROLLGATE_WEBHOOK_SECRET: SECRET },
    });

  const payloads = () =>
    hook.received.map((r) => {
      const ok = verifySignature({
        secret: SECRET,
        body: r.body,
        timestamp: r.headers['x-rollgate-timestamp'] as string,
        signature: r.headers['x-rollgate-signature'] as string,
        nowS: Date.now() / 1000,
      });
      expect(ok).toBe(true);
      return JSON.parse(r.body) as Record<string, unknown>;
    });

  it('deploy-bastion: "waiting for bake", naming the environment and linking to the run', async () => {
    const r = await step('deploy-bastion', { version: '1.0.0' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(payloads()).toEqual([
      expect.objectContaining({
        kind: 'bastion-verified',
        group: 'notified',
        environment: 'production',
        version: '1.0.0',
        by: expect.stringMatching(/\(run 2601, attempt 1\)$/),
        link: 'https://github.com/acme/shop/actions/runs/2601',
        next: 'bake or stop',
      }),
    ]);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('bake: "waiting for continue", by the approver, to the notify-link input', async () => {
    approveGate(double.state, 2601, 'production-bake', 'carol');
    const r = await step('bake', { 'notify-link': 'https://rollgate.example/notified' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(payloads()[1]).toMatchObject({
      kind: 'baked',
      by: expect.stringMatching(/^carol\b/),
      link: 'https://rollgate.example/notified',
      next: 'continue or stop',
    });
  });
});
