import { InputError } from '../model/errors';
import { fieldToPath, type YamlSource } from './yaml-source';

/** Problems found in a group file, each with its field and line, reported all at once. */

export interface GroupFileIssue {
  /** Dotted path: `deployment.maxUnavailable`, `targets[2].address`. */
  field: string;
  line?: number;
  message: string;
}

/** Every problem found in a group file; `field` and the first line of the message are the first one's. */
export class GroupFileError extends InputError {
  constructor(
    readonly file: string,
    readonly issues: readonly [GroupFileIssue, ...GroupFileIssue[]],
  ) {
    const [first, ...rest] = issues;
    super(
      first.field,
      [withLine(first), ...rest.map((issue) => `  ${issue.field}: ${withLine(issue)}`)].join('\n'),
    );
  }
}

function withLine(issue: GroupFileIssue): string {
  return issue.line === undefined ? issue.message : `line ${issue.line}: ${issue.message}`;
}

/** Collects problems with their lines so that one run reports all of them. */
export class Problems {
  readonly issues: GroupFileIssue[] = [];

  constructor(private readonly yaml: YamlSource) {}

  add(field: string, message: string, line = this.yaml.lineOf(fieldToPath(field))): void {
    this.issues.push(issue(field, message, line));
  }

  /** Runs `fn`; an InputError from it is recorded against its own field. */
  guard<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      this.add(error.field, bareMessage(error));
      return undefined;
    }
  }
}

export function issue(field: string, message: string, line: number | undefined): GroupFileIssue {
  return line === undefined ? { field, message } : { field, line, message };
}

export function sortIssues(issues: GroupFileIssue[]): [GroupFileIssue, ...GroupFileIssue[]] {
  const sorted = [...issues].sort(
    (a, b) =>
      (a.line ?? Infinity) - (b.line ?? Infinity) ||
      a.field.localeCompare(b.field) ||
      a.message.localeCompare(b.message, 'en', { numeric: true }),
  );
  return sorted as [GroupFileIssue, ...GroupFileIssue[]];
}

/** An InputError's message without the `field: ` prefix its constructor adds. */
export function bareMessage(error: InputError): string {
  const prefix = `${error.field}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
