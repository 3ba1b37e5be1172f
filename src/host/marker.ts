/** The file the host writes into a release once it is complete: it holds the package's sha256. */
export const COMPLETE_MARKER = '.rollgate-complete';
