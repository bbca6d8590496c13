/**
 * Load device profiles from JSON files and refuse any that is wrong, naming the file,
 * the JSON path and the reason, so whoever wrote it can fix it without reading code.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { DeviceProfile, type MetricDef } from './profile-schema.ts';

/** The profiles shipped with SchoolOps. */
export const BUILTIN_PROFILES_DIR = fileURLToPath(new URL('../profiles/', import.meta.url));

export interface ProfileProblem {
  file: string;
  /** JSON pointer into the file ('' for the whole document). */
  path: string;
  reason: string;
}

export class ProfileError extends Error {
  constructor(readonly problems: ProfileProblem[]) {
    super(
      `invalid device profile${problems.length > 1 ? 's' : ''}:\n` +
        problems.map((p) => `  ${p.file}: ${p.path || '/'}: ${p.reason}`).join('\n'),
    );
    this.name = 'ProfileError';
  }
}

const ajv = new Ajv({ allErrors: true, strict: true });
const validateShape = ajv.compile(DeviceProfile);

/** Checks JSON Schema cannot express: cross-references inside one profile. */
function semanticProblems(profile: DeviceProfile): Omit<ProfileProblem, 'file'>[] {
  const problems: Omit<ProfileProblem, 'file'>[] = [];
  const byName = new Map<string, MetricDef>();
  profile.metrics.forEach((metric, i) => {
    if (byName.has(metric.name)) problems.push({ path: `/metrics/${i}/name`, reason: `duplicate metric "${metric.name}"` });
    byName.set(metric.name, metric);
    if (metric.min !== undefined && metric.max !== undefined && metric.min > metric.max)
      problems.push({ path: `/metrics/${i}/min`, reason: `min ${metric.min} is above max ${metric.max}` });
    if (metric.type === 'enum' && !metric.values)
      problems.push({ path: `/metrics/${i}/values`, reason: 'an enum metric must list its values' });
    if (metric.type !== 'enum' && metric.values)
      problems.push({ path: `/metrics/${i}/values`, reason: `only enum metrics list values, this one is ${metric.type}` });
  });
  profile.health.rules.forEach((rule, i) => {
    const metric = byName.get(rule.metric);
    if (!metric) problems.push({ path: `/health/rules/${i}/metric`, reason: `no metric named "${rule.metric}"` });
    else if ((rule.op === 'gt' || rule.op === 'lt') && metric.type !== 'number' && metric.type !== 'integer')
      problems.push({ path: `/health/rules/${i}/op`, reason: `"${rule.op}" needs a numeric metric, "${rule.metric}" is ${metric.type}` });
  });
  const protocol = profile.protocol;
  if (protocol.type === 'opcua') {
    for (const name of Object.keys(protocol.nodes))
      if (!byName.has(name)) problems.push({ path: `/protocol/nodes/${name}`, reason: `reads "${name}", which is not a metric` });
    for (const name of Object.keys(protocol.deadband ?? {}))
      if (!protocol.nodes[name]) problems.push({ path: `/protocol/deadband/${name}`, reason: `"${name}" is not one of the nodes read` });
  }
  if (protocol.type === 'mqtt')
    for (const [field, name] of Object.entries(protocol.map ?? {}))
      if (!byName.has(name)) problems.push({ path: `/protocol/map/${field}`, reason: `maps to "${name}", which is not a metric` });
  return problems;
}

/** Validate one parsed profile; `file` is only used to name it in errors. */
export function parseProfile(value: unknown, file: string): DeviceProfile {
  if (!validateShape(value)) {
    throw new ProfileError(
      (validateShape.errors ?? []).map((e) => ({
        file,
        path: e.instancePath,
        reason:
          e.keyword === 'additionalProperties'
            ? `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`
            : e.keyword === 'enum' || e.keyword === 'const'
              ? `${e.message} (${JSON.stringify((e.params as { allowedValue?: unknown; allowedValues?: unknown }).allowedValues ?? (e.params as { allowedValue?: unknown }).allowedValue)})`
              : (e.message ?? 'invalid'),
      })),
    );
  }
  const profile = value as DeviceProfile;
  const problems = semanticProblems(profile);
  if (problems.length) throw new ProfileError(problems.map((p) => ({ file, ...p })));
  return profile;
}

/** Read, parse and validate one profile file. */
export function loadProfileFile(file: string): DeviceProfile {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ProfileError([{ file, path: '', reason: (error as Error).message }]);
  }
  return parseProfile(value, file);
}

export type ProfileRegistry = ReadonlyMap<string, DeviceProfile>;

/**
 * Load every *.json in the given folders (the built-in ones by default). All problems in
 * all files are reported together; a duplicate profile id across files is an error.
 */
export function loadProfiles(dirs: string[] = [BUILTIN_PROFILES_DIR]): ProfileRegistry {
  const registry = new Map<string, DeviceProfile>();
  const from = new Map<string, string>();
  const problems: ProfileProblem[] = [];
  for (const dir of dirs) {
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const file = join(dir, name);
      try {
        const profile = loadProfileFile(file);
        const earlier = from.get(profile.id);
        if (earlier) {
          problems.push({ file, path: '/id', reason: `profile id "${profile.id}" is already defined in ${basename(earlier)}` });
          continue;
        }
        registry.set(profile.id, profile);
        from.set(profile.id, file);
      } catch (error) {
        if (error instanceof ProfileError) problems.push(...error.problems);
        else throw error;
      }
    }
  }
  if (problems.length) throw new ProfileError(problems);
  return registry;
}
