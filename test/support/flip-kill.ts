/**
 * `continue` in a process of its own that SIGKILLs itself in the middle of one target's
 * side-by-side flip: the new slot's server is in traffic, the old one not yet drained.
 * Usage: node --import tsx test/support/flip-kill.ts <group file> <target id>
 */
import { openRuntime } from '../../src/app/runtime';

async function main(): Promise<void> {
  const [groupFile, id] = process.argv.slice(2);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const rt = await openRuntime({
    groupFile: groupFile!,
    env: process.env,
    logger: quiet,
    who: 'cli-operator',
  });
  const traffic = rt.ports.traffic;
  const markdown = traffic.markdown.bind(traffic);
  traffic.markdown = async (target, signal) => {
    // In the flip, markdown names the old slot once the new one is in.
    if (target.id === id && target.slot !== undefined) process.kill(process.pid, 'SIGKILL');
    return markdown(target, signal);
  };
  const r = await rt.engine.continue();
  await rt.close();
  process.stderr.write(`continue ended ${r.phase} without reaching the flip of ${id}\n`);
  process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`flip-kill: ${String(err)}\n`);
  process.exitCode = 1;
});
