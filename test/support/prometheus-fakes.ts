import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/model/logger';
import {
  MonitorQueryError,
  type MetricSource,
  type Sample,
  type Series,
} from '../../src/monitor/ports';

const FIXTURES = fileURLToPath(new URL('../fixtures/prometheus/', import.meta.url));

/** A real Prometheus 2.42 answer captured from the running server (test/fixtures/prometheus). */
export function fixture(name: string): unknown {
  return JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8'));
}

/** What a scripted source answers for one query at one time: samples, or a thrown error. */
export type Script = (query: string, atMs: number) => Sample[] | MonitorQueryError;

/**
 * A MetricSource driven by a function of (query, time), for the watch on a simulated clock.
 * `range` evaluates the same function at each step, like Prometheus would from its history.
 * Records every call.
 */
export class ScriptedSource implements MetricSource {
  readonly calls: { kind: 'instant' | 'range'; query: string; at: number }[] = [];
  readonly range?: MetricSource['range'];

  constructor(
    private readonly script: Script,
    readonly name = 'scripted',
    history = true,
  ) {
    if (history) {
      this.range = async (query, startMs, endMs, stepMs): Promise<Series[]> => {
        this.calls.push({ kind: 'range', query, at: endMs });
        const byKey = new Map<string, Series>();
        for (let t = startMs; t <= endMs; t += stepMs) {
          const answer = this.script(query, t);
          if (answer instanceof MonitorQueryError) throw answer;
          for (const s of answer) {
            const key = JSON.stringify(s.labels);
            const series = byKey.get(key) ?? { labels: s.labels, points: [] };
            series.points.push({ t, value: s.value });
            byKey.set(key, series);
          }
        }
        return [...byKey.values()];
      };
    }
  }

  async instant(query: string, atMs: number): Promise<Sample[]> {
    this.calls.push({ kind: 'instant', query, at: atMs });
    const answer = this.script(query, atMs);
    if (answer instanceof MonitorQueryError) throw answer;
    return answer;
  }
}

/** One sample. */
export function sample(value: number, labels: Record<string, string> = {}): Sample {
  return { labels, value };
}

/** A logger that keeps its lines. */
export class MemoryLogger implements Logger {
  readonly lines: { level: 'info' | 'warn' | 'error'; line: string }[] = [];
  info(line: string): void {
    this.lines.push({ level: 'info', line });
  }
  warn(line: string): void {
    this.lines.push({ level: 'warn', line });
  }
  error(line: string): void {
    this.lines.push({ level: 'error', line });
  }
  text(): string {
    return this.lines.map((l) => l.line).join('\n');
  }
}
