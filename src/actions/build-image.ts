import { buildStep } from './lib/build-step';

void buildStep();
