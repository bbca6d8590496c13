/**
 * The URL of every API route, built from the route table of the policy (ROUTES): the
 * server refuses to start with a route the table lacks, and a path here that the table lacks
 * does not compile, so the dashboard cannot call a URL the cloud does not serve.
 *
 *   apiPath('/api/schools/:schoolId/devices', { schoolId })  ->  /api/schools/thcs-le-loi/devices
 *
 * No imports with effects: the browser bundle imports this file.
 */
import type { RouteKey } from '../policy.ts';

/** The path pattern of every route ('/api/schools/:schoolId'), any method. */
export type ApiPattern = RouteKey extends `${string} ${infer Path}` ? Path : never;

/** The :names of a pattern. */
export type ParamsOf<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamsOf<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

type Query = Record<string, string | number | readonly string[] | undefined>;

/** A pattern with its parameters filled in (URL-encoded) and an optional query string. */
export function apiPath<P extends ApiPattern>(pattern: P, ...[params, query]: ParamsOf<P> extends never ? [params?: Record<string, never>, query?: Query] : [params: Record<ParamsOf<P>, string>, query?: Query]): string {
  const values = (params ?? {}) as Record<string, string>;
  const path = pattern.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`apiPath: ${pattern} needs ${name}`);
    return encodeURIComponent(value);
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(name, String(one));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}
