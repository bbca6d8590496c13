/**
 * The socket.io contract between the cloud and the dashboard: event names and payloads.
 * The cloud's Server and the dashboard's socket are typed with these, so a payload change
 * fails to compile on both sides. Who receives what is the policy's (SUBSCRIPTIONS).
 */
import type { MetricValue } from '../wire.ts';
import type { SchoolSummary } from './district.ts';

/** One accepted sample, to those subscribed to its school's readings. */
export interface ReadingEvent {
  schoolId: string;
  deviceId: string;
  /** Sample time, ms since the Unix epoch. */
  ts: number;
  values: Record<string, MetricValue>;
  /** The device's sample counter, when it sends one. */
  n?: number;
  /** Replayed from a gateway's backlog. */
  hist?: boolean;
}

/** emit('subscribe', { readings: schoolId | '*' }, ack) */
export interface SubscribeRequest {
  readings: string;
}
export type SubscribeAnswer = { ok: true } | { ok: false; reason: string };

export interface ServerToClientEvents {
  /** A school in the principal's scope changed (at most once a second per school). */
  school: (school: SchoolSummary) => void;
  reading: (reading: ReadingEvent) => void;
}

export interface ClientToServerEvents {
  subscribe: (request: SubscribeRequest, ack: (answer: SubscribeAnswer) => void) => void;
}
