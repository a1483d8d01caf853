/**
 * CredProxy's include_patterns/exclude_patterns are Python regular expressions (`re.match`).
 * Most of Python's syntax reads the same in JavaScript; what does not is translated here, and
 * what cannot be translated is refused with a reason, so that no pattern is accepted that
 * silently means something else (JavaScript reads `\Z` as the letter Z, for one).
 *
 * Translated: leading inline flags `(?i)` `(?m)` `(?s)` `(?x)` (and `(?a)` `(?u)`, which change
 * nothing for file names), named groups `(?P<name>…)` and `(?P=name)`, `\A` and `\Z`, `\a`,
 * and `(?#comments)`. Refused: scoped or late inline flags, `(?L)`, atomic groups, possessive
 * quantifiers, conditionals, `\N{…}` and any other letter escape the two languages read apart.
 */

export type Translation = { readonly source: string; readonly flags: string } | { readonly error: string };

/** Letter escapes Python and JavaScript read the same way. */
const SHARED_ESCAPES = new Set([..."dDwWsSbBnrtfv"]);
const FLAG_MAP: Readonly<Record<string, string>> = { i: "i", m: "m", s: "s", x: "", a: "", u: "" };

export function translatePythonRegex(pattern: string): Translation {
  let flags = "";
  let verbose = false;
  let rest = pattern;
  while (true) {
    const m = /^\(\?([a-zA-Z]+)\)/.exec(rest);
    if (!m) break;
    for (const flag of m[1]!) {
      if (!(flag in FLAG_MAP)) return { error: `the inline flag (?${flag}) has no JavaScript equivalent` };
      if (flag === "x") verbose = true;
      if (FLAG_MAP[flag] && !flags.includes(FLAG_MAP[flag]!)) flags += FLAG_MAP[flag];
    }
    rest = rest.slice(m[0].length);
  }
  const body = translateBody(rest, verbose);
  return "error" in body ? body : { source: body.source, flags };
}

function translateBody(pattern: string, verbose: boolean): { source: string } | { error: string } {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) return { error: "it ends with a lone backslash" };
      const escaped = escape(next, inClass);
      if ("error" in escaped) return escaped;
      out += escaped.text;
      i++;
      continue;
    }
    if (inClass) {
      if (ch === "]" && !out.endsWith("[") && !out.endsWith("[^")) inClass = false;
      out += ch;
      continue;
    }
    if (ch === "[") {
      inClass = true;
      out += ch;
      continue;
    }
    if (verbose && /\s/.test(ch)) continue;
    if (verbose && ch === "#") {
      while (i + 1 < pattern.length && pattern[i + 1] !== "\n") i++;
      continue;
    }
    if (ch === "(" && pattern[i + 1] === "?") {
      const group = extension(pattern, i);
      if ("error" in group) return group;
      out += group.text;
      i += group.consumed - 1;
      continue;
    }
    if ((ch === "+" || ch === "*" || ch === "?" || ch === "}") && pattern[i + 1] === "+") {
      return { error: `the possessive quantifier ${ch}+ has no JavaScript equivalent` };
    }
    out += ch;
  }
  if (inClass) return { error: "a character class [ is not closed" };
  return { source: out };
}

function escape(next: string, inClass: boolean): { text: string } | { error: string } {
  if (next === "A") return inClass ? { error: "\\A cannot stand in a character class" } : { text: "(?<![\\s\\S])" };
  if (next === "Z") return inClass ? { error: "\\Z cannot stand in a character class" } : { text: "(?![\\s\\S])" };
  if (next === "a") return { text: "\\x07" };
  if (next === "N") return { error: "\\N{…} (a character by name) has no JavaScript equivalent" };
  if (/[a-zA-Z]/.test(next) && !SHARED_ESCAPES.has(next) && next !== "x" && next !== "u") {
    return { error: `\\${next} means something else in JavaScript (or nothing in Python)` };
  }
  return { text: `\\${next}` };
}

/** A `(?…)` construct at `at`: what JavaScript should read instead, and how many characters it took. */
function extension(pattern: string, at: number): { text: string; consumed: number } | { error: string } {
  const rest = pattern.slice(at);
  const named = /^\(\?P<([A-Za-z_]\w*)>/.exec(rest);
  if (named) return { text: `(?<${named[1]}>`, consumed: named[0].length };
  const backref = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest);
  if (backref) return { text: `\\k<${backref[1]}>`, consumed: backref[0].length };
  const comment = /^\(\?#[^)]*\)/.exec(rest);
  if (comment) return { text: "", consumed: comment[0].length };
  if (/^\(\?(?::|=|!|<=|<!|<[A-Za-z_])/.test(rest)) return { text: "(?", consumed: 2 };
  if (rest.startsWith("(?>")) return { error: "atomic groups (?>…) have no JavaScript equivalent" };
  if (rest.startsWith("(?(")) return { error: "conditional groups (?(…)…) have no JavaScript equivalent" };
  if (/^\(\?[a-zA-Z-]+[:)]/.test(rest)) return { error: "inline flags are translated only at the very start of a pattern, and (?flags:…) groups not at all" };
  return { error: `"${rest.slice(0, 4)}" is not a construct credproxy can translate` };
}

/** The JavaScript RegExp for a Python `re.match` pattern (anchored at the start); throws on a refusal. */
export function compilePythonMatch(pattern: string): RegExp {
  const t = translatePythonRegex(pattern);
  if ("error" in t) throw new SyntaxError(t.error);
  // re.match tries at position 0 only; with (?m) a plain ^ would also match after a newline.
  return new RegExp(`(?<![\\s\\S])(?:${t.source})`, t.flags);
}
