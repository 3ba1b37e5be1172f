/**
 * Where a group's page sits in the static export (`rollgate page --out`), from the export's
 * root: the export writes it there, and a deployment status's environment_url points at it.
 */
import { createHash } from 'node:crypto';

export function groupPagePath(name: string): string {
  // A store's group is any directory name: `<img …>`, `a b`, `..`. Names of plain characters keep
  // their own file; any other gets a slug and a hash (`~` never appears in a plain name).
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) && name.length <= 100) return `g/${name}.html`;
  const slug = name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 40);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `g/${slug}~${hash}.html`;
}
