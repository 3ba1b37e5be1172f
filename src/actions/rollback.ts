import { runStep } from './lib/run';

void runStep('rollback');
