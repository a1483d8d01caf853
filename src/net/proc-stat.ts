/** Fields of Linux's /proc/<pid>/stat, read by the broker's peer checks and the loopback state file. */

/**
 * The parent pid from the text of /proc/<pid>/stat. The command name (field 2) is in
 * parentheses and may itself contain spaces and ")", so parsing starts after the last ")".
 */
export function parseStatParentPid(stat: string): number | undefined {
  const ppid = statFields(stat)?.[1]; // field 4
  const value = Number(ppid);
  return ppid !== undefined && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** Field 22 of /proc/<pid>/stat, the start time in clock ticks since boot, as text. */
export function parseStatStartTime(stat: string): string | undefined {
  const start = statFields(stat)?.[19];
  return start !== undefined && /^\d+$/.test(start) ? start : undefined;
}

/** The fields after the command name: [0] is field 3 (state). */
function statFields(stat: string): string[] | undefined {
  const close = stat.lastIndexOf(")");
  return close < 0 ? undefined : stat.slice(close + 1).trim().split(/\s+/);
}
