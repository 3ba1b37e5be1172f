import * as core from '@actions/core';
import type { Logger } from '../../model/logger';

/** The engine's Logger on the runner's log: warnings and errors become annotations. */
export const coreLogger: Logger = {
  info: (l) => core.info(l),
  warn: (l) => core.warning(l),
  error: (l) => core.error(l),
};
