import { scanStep } from './lib/scan-step';

void scanStep();
