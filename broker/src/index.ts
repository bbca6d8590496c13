/** @schoolops/broker: the district MQTT broker and the pieces installers and tests need. */
export {
  startDistrictBroker,
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
export { mayPublish, maySubscribe, mayReceive, principalOf, type Principal, type AclDecision } from './acl.ts';
