/** Quotes one argument for POSIX sh: the value reaches the command as one literal word. */
export function shq(value: string): string {
  if (/^[A-Za-z0-9._/:=@%+-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A sh line setting `variable` to the first line of `file` (a shell word, quoted by the caller),
 * or to nothing when it cannot be read: sh's own `read`, no `cat` process. The hot scripts (lock,
 * probe, serve) run on every host of every batch, and each process costs milliseconds there.
 */
export function readFirstLine(variable: string, file: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new Error(`not a variable: ${variable}`);
  return `${variable}=; { IFS= read -r ${variable} <${file}; } 2>/dev/null || :`;
}
