import { runStep } from './lib/run';

void runStep('bake');
