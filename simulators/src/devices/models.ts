/**
 * Which value model drives which profile. A profile without a model of its own (a new
 * model of projector added as one JSON file, say) gets the generic model, which derives
 * steady, valid values from the profile's metric definitions alone, so every profile
 * can be simulated from the day it is written.
 */
import type { DeviceProfile, MetricDef, MetricValue, MetricValues } from '@schoolops/device-profiles';
import { gaussian } from '../district/random.ts';
import { boardModel } from './board.ts';
import { cameraModel } from './camera.ts';
import { labControllerModel } from './lab-controller.ts';
import { laserProjectorModel } from './laser-projector.ts';
import { linkProbeModel } from './link-probe.ts';
import { clamp, round, type ValueModel } from './model.ts';
import { projectorModel } from './projector.ts';
import { routerModel } from './router.ts';

// Each model's state type is its own business; the loop only threads it through.
type AnyModel = ValueModel<any>;

export const VALUE_MODELS: ReadonlyMap<string, AnyModel> = new Map<string, AnyModel>(
  [projectorModel, laserProjectorModel, cameraModel, boardModel, routerModel, linkProbeModel, labControllerModel].map((m) => [m.profileId, m]),
);

function steadyValue(def: MetricDef): MetricValue {
  switch (def.type) {
    case 'boolean':
      return true;
    case 'enum':
      return def.values?.[0] ?? '';
    case 'string':
      return 'ok';
    case 'number':
    case 'integer': {
      const min = def.min ?? 0;
      const max = def.max ?? Math.max(min, 0) + 100;
      return min + (max - min) / 4;
    }
  }
}

/** Values from the profile alone: numbers a quarter of the way up their range with a little noise; first enum value; booleans true. */
export function genericModel(profile: DeviceProfile): ValueModel<null> {
  return {
    profileId: profile.id,
    init: () => null,
    sample(state, { rng }) {
      const values: MetricValues = {};
      for (const def of profile.metrics) {
        let value = steadyValue(def);
        if (typeof value === 'number') {
          const span = (def.max ?? value + 100) - (def.min ?? 0);
          value = clamp(value + gaussian(rng, span * 0.01), def.min ?? -Infinity, def.max ?? Infinity);
          value = def.type === 'integer' ? Math.round(value) : round(value, 2);
        }
        values[def.name] = value;
      }
      return { state, values };
    },
  };
}

export function modelFor(profile: DeviceProfile): AnyModel {
  return VALUE_MODELS.get(profile.id) ?? genericModel(profile);
}
