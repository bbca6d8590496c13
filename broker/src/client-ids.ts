/**
 * MQTT client ids on the district broker: each principal has a namespace of its own.
 *
 * aedes keys everything of a session by client id: the live connection (a second CONNECT
 * with the same id takes the first one over), the subscriptions and queued messages of a
 * non-clean session, and the will. The client picks its id, so ids shared by all
 * principals let one principal act on another's session. The first fix, binding an id to
 * the first principal that used it, only moved the problem: a gateway that connected once
 * with the cloud's id and CleanSession=0 held that id for as long as the broker kept the
 * session (for ever), and locked the cloud out until a restart.
 *
 * So ids are never shared. Once a client has authenticated, its session is kept under
 * `<username>:<client id it sent>` (sessionIdFor), and nothing in aedes ever sees the bare
 * id. A username cannot contain ':' (the credentials schema allows [A-Za-z0-9._-] only), so
 * the username is everything before the first ':' and two principals can never meet on one
 * session, whatever ids they choose: taking over, resuming or squatting another
 * principal's session is impossible by construction, there is no binding to hold or
 * expire, and the rightful owner can never be locked out. Within its own namespace a
 * principal behaves as MQTT says (the same id takes over its own older connection and
 * resumes its own session). Clients need no change: the id travels only in CONNECT, so
 * renaming it on the broker is invisible to them (log lines show the id the client sent).
 *
 * Rejected considered alternative: requiring clients to send `<username>` or
 * `<username>:<suffix>` themselves. Same guarantee, but every client (gateways, the cloud,
 * tools) would have to follow a naming rule or be refused.
 */

import { clip } from './log-throttle.ts';

/**
 * Longest client id accepted, in UTF-16 code units. MQTT 3.1.1 allows 65 535 bytes; ours
 * are a gateway id or a short name. Checked before the password's scrypt, so an absurd id
 * costs the broker nothing, and its log line never carries more than LOGGED_ID_CHARS.
 */
export const MAX_CLIENT_ID_CHARS = 256;

/** How much of a client id a log line shows. */
const LOGGED_ID_CHARS = 80;

/** Why a client id is refused before authentication, or undefined when it is acceptable. */
export function clientIdProblem(clientId: string): string | undefined {
  if (clientId.length > MAX_CLIENT_ID_CHARS) return `client id of ${clientId.length} characters (at most ${MAX_CLIENT_ID_CHARS})`;
  return undefined;
}

/** The id aedes keeps this principal's session under. */
export function sessionIdFor(username: string, clientId: string): string {
  // The credentials schema already forbids it; checked here too because the whole
  // guarantee rests on it.
  if (username.includes(':')) throw new Error(`username "${username}" contains ':' and cannot own a client id namespace`);
  return `${username}:${clientId}`;
}

/** A client id as a log line shows it: never longer than LOGGED_ID_CHARS (plus its length). */
export function loggedClientId(clientId: string | null | undefined): string | undefined {
  return clip(clientId, LOGGED_ID_CHARS);
}
