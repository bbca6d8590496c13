/**
 * npm start: a simulated school district on this machine.
 *   npm start -- --schools 5 --port 8080 --mqtt-port 18830
 *   npm start -- --schools 3 --replayed-schools 147     (a wall display's district of 150)
 */
import { parseArgs } from 'node:util';
import { startDistrict } from '../launcher/district.ts';
import { isSchoolTimeChoice } from '../launcher/school-time.ts';

const HELP = `SchoolOps simulated district

  npm start -- [--schools N] [--replayed-schools R] [--port P] [--mqtt-port Q] [--mqtts-port T] [--no-tls]
                [--control-port C] [--seed S] [--data-dir DIR] [--device-interval-ms MS]
                [--school-time auto|real|HH:MM|"YYYY-MM-DD HH:MM"]

  --schools N             schools to simulate, each with its own gateway (default 5)
  --replayed-schools R    R more schools without a gateway process or device simulators each:
                          one replayer process speaks for all of them to the district broker,
                          with each school's own gateway credentials, sending readings made
                          from the device profiles (and a few planned faults: schools offline,
                          an internet link down, failed projector lamps). Light enough for a
                          district of 150 on a small machine: --schools 3 --replayed-schools 147
                          (default 0)
  --port P                HTTPS port of the dashboard and API (default 8080)
  --mqtt-port Q           port of the district broker's plain MQTT, 127.0.0.1 only (default 18830)
  --mqtts-port T          port of the district broker's MQTT over TLS, which gateways use (default 18883)
  --no-tls                plain HTTP and MQTT instead (everything stays on 127.0.0.1 either way);
                          by default the links are encrypted with a CA and certificates made
                          under DIR/tls on the first start and kept after
  --control-port C        port of the fault switchboard on 127.0.0.1 (default 18090)
  --seed S                seed of the generated district (default 1)
  --data-dir DIR          where configs, credentials, logs and the database go (default ./data)
  --device-interval-ms MS every simulated device reports, and every gateway polls, this often
                          (default: each profile's interval)
  --school-time T         the school time the district lives at: auto (default) is real time
                          while lessons are on, else a lesson of the latest school day, so the
                          attendance view has something to show; real is always the clock;
                          HH:MM is that time on the latest school day, "YYYY-MM-DD HH:MM"
                          that local time
`;

function positiveInt(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be a whole number >= ${min}, got "${text}"\n\n${HELP}`);
    process.exit(2);
  }
  return value;
}

const { values } = parseArgs({
  options: {
    schools: { type: 'string' },
    'replayed-schools': { type: 'string' },
    port: { type: 'string' },
    'mqtt-port': { type: 'string' },
    'mqtts-port': { type: 'string' },
    // node:util's parseArgs has no negated flags before Node 22.4: --no-tls is its own flag.
    'no-tls': { type: 'boolean' },
    'control-port': { type: 'string' },
    seed: { type: 'string' },
    'data-dir': { type: 'string' },
    'device-interval-ms': { type: 'string' },
    'school-time': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const schoolTime = values['school-time'] ?? 'auto';
if (!isSchoolTimeChoice(schoolTime)) {
  console.error(`--school-time must be auto, real, HH:MM or "YYYY-MM-DD HH:MM", got "${schoolTime}"\n\n${HELP}`);
  process.exit(2);
}

const tls = !values['no-tls'];
const started = Date.now();
const log = (line: string) => console.log(line);
log('Starting the SchoolOps simulated district…');
const replayedSchools = positiveInt('replayed-schools', values['replayed-schools'], 0);
// With replayed schools, the district may have no school with its own gateway at all.
const schools = positiveInt('schools', values.schools, 5, replayedSchools > 0 ? 0 : 1);
const district = await startDistrict({
  schools,
  replayedSchools,
  port: positiveInt('port', values.port, 8080),
  mqttPort: positiveInt('mqtt-port', values['mqtt-port'], 18830),
  tls,
  ...(tls ? { mqttTlsPort: positiveInt('mqtts-port', values['mqtts-port'], 18883) } : {}),
  controlPort: positiveInt('control-port', values['control-port'], 18090),
  seed: positiveInt('seed', values.seed, 1),
  dataDir: values['data-dir'] ?? 'data',
  schoolTime,
  gatewaysAtOnce: 3,
  ...(values['device-interval-ms'] ? { deviceIntervalMs: positiveInt('device-interval-ms', values['device-interval-ms'], 0, 100) } : {}),
  progress: log,
}).catch((error: Error) => {
  console.error(`\nCould not start the district: ${error.message}`);
  process.exit(1);
});

log(`
Ready in ${((Date.now() - started) / 1000).toFixed(1)} s.
  Dashboard:  ${district.url}/
  API:        ${district.url}/api/schools   (OpenAPI docs: ${district.url}/docs)
  Sign in (demo accounts, new passwords every start; also in ${district.loginsFile}, readable by you only):
${district.logins.map((l) => `    ${l.role.padEnd(18)} ${l.username.padEnd(22)} ${l.password}`).join('\n')}
    wall display       code ${district.displayCode} (one use, within 15 minutes) at ${district.url}/?enroll
  API token:  in ${district.files.cloudDataDir}/launcher.token (district operator), e.g.
              curl ${district.caFile ? `--cacert ${district.caFile} ` : ''}-H "Authorization: Bearer $(cat ${district.files.cloudDataDir}/launcher.token)" ${district.url}/api/schools
${brokerLines()}
  Logs:       ${district.files.logDir}
  ${district.schoolTime.describe}
  Faults:     ${district.controlUrl}/faults   (${district.faults.size} devices take faults)
              e.g. curl -X POST ${district.controlUrl}/faults/${exampleProjector()}/lamp-failure
                   curl -X DELETE ${district.controlUrl}/faults/${exampleProjector()}/all${replayLines()}
Press Ctrl-C to stop.`);

function replayLines(): string {
  const replay = district.replay;
  if (!replay) return '';
  const { offline, linkDown, lampErrors } = replay.faults;
  return [
    '',
    `  Replayed:   ${replay.schools.length} schools from one process (pid ${district.pid('replay')}, log ${district.files.logDir}/replay.log)`,
    `              planned faults: offline ${offline.join(', ') || 'none'}; internet down at ${linkDown.join(', ') || 'none'}; failed projector lamps: ${lampErrors.join(', ') || 'none'}`,
  ].join('\n');
}

function brokerLines(): string {
  if (!district.caFile) return `  Broker:     mqtt://127.0.0.1:${district.mqttPort}`;
  return [
    `  Broker:     mqtts://127.0.0.1:${district.mqttTlsPort} (gateways, the cloud); plain mqtt://127.0.0.1:${district.mqttPort} for this machine only`,
    `  CA:         ${district.caFile} (signed the dashboard's and the broker's certificates)`,
    `              the browser warns until you import it as a trusted authority (certificate settings, "Authorities"), or accept the warning once`,
  ].join('\n');
}

function exampleProjector(): string {
  for (const [id, target] of district.faults) if (target.protocol === 'pjlink') return id;
  return '{deviceId}';
}

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  log('\nStopping: devices, gateways, cloud, broker…');
  await district.stop();
  log('Stopped cleanly.');
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
