import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordStopIn, stopCopyLayers } from '../../../src/actions/lib/record';
import { openRuntime, type Runtime } from '../../../src/app/runtime';
import { SimulatedClock } from '../../../src/engine/clock';
import type { Ledger } from '../../../src/engine/ledger';
import { httpReceiver, type HttpReceiver } from '../../support/notify-receivers';
import { makeLogger, midReleaseLedger } from '../../support/fakes';
import { SHOP_WEB_GROUP } from '../../support/group-yaml';

// The stop a cancel writes into a copy of the record (the step did not end in time) is told
// like the step's own stop: through the runtime's notify channels, once per release.
const ENV = { HOOK_SECRET: 'whsec-cancel-54' };

const rollingOut = (): Ledger => midReleaseLedger('shop-web');

describe('a cancel that writes the stop into a copy of the record notifies it', () => {
  let hook: HttpReceiver;
  let root: string;
  let rt: Runtime;
  beforeAll(async () => {
    hook = await httpReceiver({ host: '127.0.54.1', port: 54001 });
    root = await mkdtemp(join(tmpdir(), 'rollgate-cancel-notify-'));
    const groupFile = join(root, 'shop-web.yml');
    await writeFile(
      groupFile,
      `${SHOP_WEB_GROUP}notify:\n  events: [stopped]\n  webhook: { url: "${hook.url}", secret: env:HOOK_SECRET }\n`,
    );
    rt = await openRuntime({
      groupFile,
      env: ENV,
      logger: makeLogger(),
      storeDir: join(root, 'store'),
      environment: 'production',
    });
  });
  afterAll(async () => {
    await rt?.close();
    await hook?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('"stopped" goes out through the step\'s channels, flushed with the step\'s record', async () => {
    const copy = join(root, 'copy', 'shop-web');
    await mkdir(copy, { recursive: true });
    await writeFile(join(copy, 'state.json'), JSON.stringify(rollingOut()));
    const github: string[] = [];
    const id = await recordStopIn(copy, {
      group: 'shop-web',
      by: 'the workflow run was cancelled',
      decorate: stopCopyLayers(rt, (s) => {
        github.push('decorated');
        return s;
      }),
      logger: makeLogger(),
      clock: new SimulatedClock(),
    });
    expect(id).toBe('d1');
    expect(github).toEqual(['decorated']);
    await rt.ports.store.flush();
    const sent = hook.received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(sent).toEqual([
      expect.objectContaining({
        kind: 'stopped',
        group: 'shop-web',
        environment: 'production',
        deployment: 'd1',
        version: '2.0.0',
        by: 'the workflow run was cancelled',
      }),
    ]);

    // The step's own stop of the same release, recorded later: no second message.
    const again = join(root, 'again', 'shop-web');
    await mkdir(again, { recursive: true });
    await writeFile(join(again, 'state.json'), JSON.stringify(rollingOut()));
    await recordStopIn(again, {
      group: 'shop-web',
      by: 'alice',
      decorate: stopCopyLayers(rt, (s) => s),
      logger: makeLogger(),
      clock: new SimulatedClock(),
    });
    await rt.ports.store.flush();
    expect(hook.received).toHaveLength(1);
  });
});
