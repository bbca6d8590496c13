/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof` or the inspector's Profiler): where the
 * process spent its time, by area (package, source file, GC, idle) and by function (self
 * time). Used by backlog.bench.ts --profile; also runnable on its own:
 *
 *   node --import tsx edge-agent/bench/cpuprofile.ts some.cpuprofile [--top 15]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: an npm package, a file of this repo, node itself, or a V8 pseudo-frame. */
function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [first, second] = url.slice(modules + '/node_modules/'.length).split('/');
    return first?.startsWith('@') ? `${first}/${second}` : (first ?? url);
  }
  if (url.startsWith('node:')) return `node:${url.replace('node:internal/', '').split('/')[0]}`;
  const repo = url.indexOf('/work/main/');
  return repo >= 0 ? url.slice(repo + '/work/main/'.length) : url;
}

export interface ProfileSummary {
  totalMs: number;
  byArea: { name: string; ms: number }[];
  byFunction: { name: string; ms: number }[];
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const area = new Map<string, number>();
  const fn = new Map<string, number>();
  let total = 0;
  // timeDeltas[i] is the time between sample i-1 and sample i: charge it to sample i.
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = nodes.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    const a = areaOf(url, functionName);
    area.set(a, (area.get(a) ?? 0) + us);
    const f = url ? `${functionName || '(anonymous)'}  ${a}:${lineNumber + 1}` : a;
    fn.set(f, (fn.get(f) ?? 0) + us);
  });
  const sorted = (m: Map<string, number>) => [...m].map(([name, us]) => ({ name, ms: us / 1000 })).sort((x, y) => y.ms - x.ms);
  return { totalMs: total / 1000, byArea: sorted(area), byFunction: sorted(fn) };
}

/** Printable lines: the top areas and functions by self time, with their share of the profile. */
export function formatSummary(title: string, summary: ProfileSummary, top = 12): string[] {
  const busy = summary.totalMs - (summary.byArea.find((a) => a.name === '(idle)')?.ms ?? 0);
  const pct = (ms: number) => `${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)}%`;
  const lines = [`${title}: ${(summary.totalMs / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s not idle`];
  lines.push('  by area (self time):');
  for (const a of summary.byArea.slice(0, top)) lines.push(`    ${pct(a.ms)}  ${(a.ms / 1000).toFixed(2).padStart(7)} s  ${a.name}`);
  lines.push('  by function (self time):');
  for (const f of summary.byFunction.slice(0, top)) lines.push(`    ${pct(f.ms)}  ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${f.name}`);
  return lines;
}

export function summarizeFile(file: string, top = 12): string[] {
  return formatSummary(file, summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile), top);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  for (const file of positionals) console.log(summarizeFile(file, Number(values.top ?? 15)).join('\n'));
}
