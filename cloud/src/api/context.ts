import type { Ingest } from '../ingest.ts';
import type { DistrictIndex } from '../inventory.ts';
import type { LiveState } from '../live-state.ts';
import type { ReadingStore } from '../storage/types.ts';

/** What the API plugins read from; passed as plugin options, never as globals. */
export interface ApiContext {
  district: DistrictIndex;
  live: LiveState;
  store: ReadingStore;
  ingest: Ingest;
  /** School time minus real time: 0 in a real district (see CloudConfig.schoolClockOffsetMs). */
  schoolClockOffsetMs: number;
}
