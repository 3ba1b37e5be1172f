/** rollgate's side of the inventory parity test: each host's variables as rollgate reads them. */
import { readInventory } from '../../src/config/ansible-inventory';

export async function rollgateVars(
  file: string,
  group: string,
): Promise<Map<string, Record<string, unknown>>> {
  const entries = (await readInventory(file)).hostsOf(group);
  return new Map(entries.map((entry) => [entry.host, entry.vars]));
}
