import { runStep } from './lib/run';

void runStep('roll-batches');
