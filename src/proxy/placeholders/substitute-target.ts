/**
 * A placeholder in a request's origin-form target: the path (Telegram's /bot<TOKEN>/…) and the
 * query (?key=…), raw or percent-encoded. The value goes in percent-encoded for where it lands,
 * so a real key holding / + = & cannot add a path segment or a query parameter.
 */
import { pathSpelling, querySpelling, replacePlaceholder } from "./placeholder-text.ts";

export function substituteTarget(target: string, placeholder: string, real: string): string {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const inPath = pathSpelling(real);
  const newPath = replacePlaceholder(path, placeholder, inPath, inPath);
  if (q < 0) return newPath;
  const inQuery = querySpelling(real);
  return `${newPath}?${replacePlaceholder(target.slice(q + 1), placeholder, inQuery, inQuery)}`;
}
