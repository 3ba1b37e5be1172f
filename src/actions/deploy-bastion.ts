import { runStep } from './lib/run';

void runStep('deploy-bastion');
