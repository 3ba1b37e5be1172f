/**
 * A registry of the CLI's and the image actions' own on 127.0.13.1:<15000–15009> (other suites
 * use 127.0.11.x and 127.0.12.x), with its own data directory, the base images pushed to it, and
 * the shared private container storage of registry-env. With CI=true missing tools throw.
 */
import {
  containersFixture,
  startRegistry,
  type ContainersFixture,
  type RegistryPlace,
  type TestRegistry,
} from './registry-env';

export const IMAGE_HOST = '127.0.13.1';
/** The Clair double's address for these suites. */
export const CLAIR_HOST = '127.0.13.2';
/** The GitHub double's address for the image actions. */
export const GITHUB_HOST = '127.0.13.3';

/** Where these suites' registry listens and keeps its data (apart from registry-env's). */
const PLACE: RegistryPlace = { host: IMAGE_HOST, subdir: 'registry-13' };

export function startRegistryAt(port: number, dir: string): Promise<TestRegistry> {
  return startRegistry(port, dir, PLACE);
}

export type ImageFixture = ContainersFixture;

/** Tools, private storage, the registry on 127.0.13.1:`port`, base images; or why not. */
export function imageFixture(port: number): Promise<ImageFixture | string> {
  return containersFixture(port, { ...PLACE, scratchPrefix: 't13-' });
}
