/**
 * Reproducer for the aedes crash of DESIGN.md section 8 (issue 3, item 6): does the broker
 * process survive four flooding publishers and a subscriber that all exit abruptly, at
 * QoS 0 then QoS 1? See abuse-load.ts for exactly what one run does.
 *
 *   node --import tsx broker/bench/abuse-repro.ts [--broker aedes|district] [--runs 20]
 *       [--publishers 4] [--inflight 100] [--payload-bytes 200] [--phase-ms 5000]
 *
 * --broker aedes (default) runs a plain aedes, to reproduce the aedes bug itself;
 * --broker district runs our district broker (src/cli.ts) with real gateway credentials,
 * each gateway publishing on its uplink telemetry topic. Prints one line per run, then
 * the survived/crashed counts; exits 1 if any run crashed.
 */
import { parseArgs } from 'node:util';
import { runAbuse, type BrokerKind } from './abuse-load.ts';

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return Number(value);
}

const { values } = parseArgs({
  strict: true,
  options: {
    broker: { type: 'string', default: 'aedes' },
    runs: { type: 'string' },
    publishers: { type: 'string' },
    inflight: { type: 'string' },
    'payload-bytes': { type: 'string' },
    'phase-ms': { type: 'string' },
  },
});
if (values.broker !== 'aedes' && values.broker !== 'district') {
  throw new Error(`--broker must be aedes or district, got "${values.broker}"`);
}
const broker: BrokerKind = values.broker;
const runs = integer('runs', values.runs, 1);
const options = {
  broker,
  publishers: integer('publishers', values.publishers, 4),
  inflight: integer('inflight', values.inflight, 100),
  payloadBytes: integer('payload-bytes', values['payload-bytes'], 200),
  phaseMs: integer('phase-ms', values['phase-ms'], 5_000),
};

console.log(
  `abuse-repro: broker=${broker} runs=${runs} publishers=${options.publishers} inflight=${options.inflight} ` +
    `payload=${options.payloadBytes}B phase=${options.phaseMs}ms qos=0,1 node=${process.version} ${new Date().toISOString()}`,
);

let survived = 0;
let crashed = 0;
let firstCrash: string | undefined;
for (let run = 1; run <= runs; run++) {
  const result = await runAbuse(options);
  const phases = result.phases.map((p) => `qos${p.qos}: sent ${p.published} recv ${p.received}`).join(', ');
  if (result.survived) {
    survived++;
    console.log(`run ${run}/${runs}: survived (${phases}; ${(result.ms / 1000).toFixed(1)} s)`);
  } else {
    crashed++;
    const how = result.crash
      ? `died during ${result.crash.during} (code ${result.crash.code}, signal ${result.crash.signal}): ${result.crash.error.split('\n')[0]}`
      : 'alive but did not serve a fresh client';
    firstCrash ??= result.crash?.error;
    console.log(`run ${run}/${runs}: CRASHED ${how} (${phases})`);
  }
}
console.log(`broker=${broker}: survived ${survived}/${runs}, crashed ${crashed}/${runs}`);
if (firstCrash) console.log(`first crash stack:\n${firstCrash}`);
process.exitCode = crashed > 0 ? 1 : 0;
