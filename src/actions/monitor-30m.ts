import { runStep } from './lib/run';

void runStep('monitor-30m');
