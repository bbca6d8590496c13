/** @schoolops/broker: the district MQTT broker and the pieces installers and tests need. */
export {
  startDistrictBroker,
  isLoopbackHost,
  REFUSAL_REASONS,
  type DistrictBroker,
  type DistrictBrokerOptions,
  type RefusalReason,
} from './broker.ts';
export {
  hashPassword,
  verifyPassword,
  isPasswordHash,
  loadCredentials,
  parseCredentials,
  CredentialsError,
  CREDENTIALS_VERSION,
  GatewayCredential,
  CloudCredential,
  type ClientCredential,
  type CredentialsFile,
} from './credentials.ts';
export { Admission, DEFAULT_ADMISSION_LIMITS, addressKey, type AdmissionLimits } from './admission.ts';
export { MAX_CLIENT_ID_CHARS, clientIdProblem, sessionIdFor } from './client-ids.ts';
export { LogThrottle, type LogThrottleOptions } from './log-throttle.ts';
export { mayPublish, maySubscribe, mayReceive, principalOf, type Principal, type AclDecision } from './acl.ts';
