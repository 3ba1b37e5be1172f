/**
 * Load probe for bench/fleet.ts, in its own process so that it shares no event loop with the
 * contender being timed: `clients` loops send GET / through HAProxy, one fresh connection per
 * request, paced to `rate` requests per second in all (a steady load, not a CPU soak: unpaced,
 * two clients alone push ~1,000 req/s and take most of a core on this 2-core machine). Every
 * non-200 answer or error counts as failed. Prints `ready` after the first answer; on `stop` (a
 * line on stdin) prints its counts as one JSON line and exits.
 *
 *   tsx bench/fleet/probe.ts <base url> <clients> <rate>
 */
import { createInterface } from 'node:readline';
import { request } from '../../test/support/haproxy-backends';

interface Counts {
  ok: number;
  failed: number;
  errors: string[];
}

function pacedProbe(base: string, clients: number, rate: number) {
  let running = true;
  const counts: Counts = { ok: 0, failed: 0, errors: [] };
  const everyMs = (clients * 1000) / rate;
  const client = async () => {
    while (running) {
      const started = performance.now();
      try {
        const r = await request(base, '/', 5000);
        if (r.status === 200) counts.ok += 1;
        else {
          counts.failed += 1;
          counts.errors.push(`HTTP ${r.status}`);
        }
      } catch (err) {
        counts.failed += 1;
        counts.errors.push(err instanceof Error ? err.message : String(err));
      }
      const rest = everyMs - (performance.now() - started);
      if (rest > 0 && running) await new Promise((r) => setTimeout(r, rest));
    }
  };
  const all = Array.from({ length: clients }, client);
  return {
    counts,
    async stop(): Promise<Counts> {
      running = false;
      await Promise.all(all);
      return counts;
    },
  };
}

async function main(): Promise<void> {
  const [base, clients = '4', rate = '200'] = process.argv.slice(2);
  if (!base) throw new Error('usage: probe.ts <base url> <clients> <rate>');
  if (!(Number(clients) >= 1) || !(Number(rate) > 0)) throw new Error('clients ≥ 1, rate > 0');
  const probe = pacedProbe(base, Number(clients), Number(rate));
  while (probe.counts.ok + probe.counts.failed === 0) await new Promise((r) => setTimeout(r, 5));
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() !== 'stop') continue;
    const c = await probe.stop();
    process.stdout.write(
      `${JSON.stringify({ ok: c.ok, failed: c.failed, errors: c.errors.slice(0, 5) })}\n`,
    );
    break;
  }
  lines.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`probe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
