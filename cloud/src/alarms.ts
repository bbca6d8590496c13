/**
 * Health rules from device profiles, evaluated on every sample the district accepts.
 *
 * A rule (profile.health.rules) names a metric, a comparison and a value. It raises an
 * alarm once the condition has held for `forSeconds` of sample time (so one hot reading
 * does not page anyone), and clears, for gt/lt rules with `clear`, only once the value is
 * back past the clear level (hysteresis: a lamp at 4,499 h does not flap). Time is the
 * samples' own time, so a backlog replayed after an outage gives the same alarms as live.
 */
import type { DeviceProfile, HealthRule, MetricValue } from '@schoolops/device-profiles';

export interface ActiveAlarm {
  deviceId: string;
  ruleId: string;
  metric: string;
  severity: HealthRule['severity'];
  message: HealthRule['message'];
  /** Sample time at which the condition started to hold. */
  since: number;
  /** The value that raised it (the latest one while it stays raised). */
  value: MetricValue;
}

interface RuleState {
  /** Sample time the condition was first seen holding, while it holds. */
  holdingSince: number | null;
  active: boolean;
  value: MetricValue | null;
}

function holds(rule: HealthRule, value: MetricValue): boolean {
  switch (rule.op) {
    case 'eq':
      return value === rule.value;
    case 'ne':
      return value !== rule.value;
    case 'gt':
      return typeof value === 'number' && value > (rule.value as number);
    case 'lt':
      return typeof value === 'number' && value < (rule.value as number);
  }
}

/** Whether a raised alarm is still on: past the clear level when the rule has one. */
function stillOn(rule: HealthRule, value: MetricValue): boolean {
  if (rule.clear === undefined || typeof value !== 'number') return holds(rule, value);
  return rule.op === 'gt' ? value > rule.clear : rule.op === 'lt' ? value < rule.clear : holds(rule, value);
}

export class AlarmBook {
  /** deviceId -> ruleId -> state */
  private readonly states = new Map<string, Map<string, RuleState>>();
  /** deviceId -> newest sample time evaluated (older samples replayed late are ignored) */
  private readonly newest = new Map<string, number>();

  /** Evaluate one sample; returns the alarms raised and cleared by it. */
  apply(deviceId: string, profile: DeviceProfile, ts: number, values: Record<string, MetricValue>): { raised: ActiveAlarm[]; cleared: string[] } {
    const raised: ActiveAlarm[] = [];
    const cleared: string[] = [];
    if (ts < (this.newest.get(deviceId) ?? -Infinity)) return { raised, cleared };
    this.newest.set(deviceId, ts);
    let states = this.states.get(deviceId);
    for (const rule of profile.health.rules) {
      const value = values[rule.metric];
      if (value === undefined) continue; // this sample says nothing about the rule's metric
      states ??= new Map();
      this.states.set(deviceId, states);
      let state = states.get(rule.id);
      if (!state) states.set(rule.id, (state = { holdingSince: null, active: false, value: null }));
      if (state.active) {
        state.value = value;
        if (!stillOn(rule, value)) {
          state.active = false;
          state.holdingSince = null;
          cleared.push(rule.id);
        }
        continue;
      }
      if (!holds(rule, value)) {
        state.holdingSince = null;
        continue;
      }
      state.holdingSince ??= ts;
      state.value = value;
      if (ts - state.holdingSince >= (rule.forSeconds ?? 0) * 1000) {
        state.active = true;
        raised.push(this.view(deviceId, rule, state));
      }
    }
    return { raised, cleared };
  }

  private view(deviceId: string, rule: HealthRule, state: RuleState): ActiveAlarm {
    return { deviceId, ruleId: rule.id, metric: rule.metric, severity: rule.severity, message: rule.message, since: state.holdingSince!, value: state.value! };
  }

  /** The device's alarms that are on now. */
  active(deviceId: string, profile: DeviceProfile): ActiveAlarm[] {
    const states = this.states.get(deviceId);
    if (!states) return [];
    return profile.health.rules.flatMap((rule) => {
      const state = states.get(rule.id);
      return state?.active ? [this.view(deviceId, rule, state)] : [];
    });
  }
}
