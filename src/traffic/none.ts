import type { Traffic, TrafficStatus } from '../engine/ports';

/** No load balancer: nothing to take out or put back; a serving host is in traffic. */
export class NoneTraffic implements Traffic {
  readonly name = 'none';

  async status(): Promise<TrafficStatus> {
    return 'none';
  }

  async markdown(): Promise<void> {}

  async markup(): Promise<void> {}

  async close(): Promise<void> {}
}
