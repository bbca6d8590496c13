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
  /** The clock the routes read "now" from: today's date, a range's default end (default Date.now; a test sets its own). */
  now?: () => number;
}

/** What the sign-in and account routes read from. */
export interface AuthContext {
  accounts: import('../auth/accounts.ts').AccountStore;
  district: DistrictIndex;
  /** Set the session cookie Secure (default: when the request came over HTTPS). */
  secureCookies?: boolean;
  /** Failed sign-ins allowed per account and per address within the window. */
  limits?: { perAccount?: number; perAddress?: number; windowMs?: number };
}
