/** Quotes one argument for POSIX sh: the value reaches the command as one literal word. */
export function shq(value: string): string {
  if (/^[A-Za-z0-9._/:=@%+-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
