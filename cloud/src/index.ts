export { startCloud, type Cloud } from './server.ts';
export { CloudConfig, loadCloudConfig, parseCloudConfig } from './config.ts';
export { Ingest, INGEST_REJECT_REASONS } from './ingest.ts';
export type { SchoolSummary, DeviceView, Figures } from '@schoolops/device-profiles/api';
export { droppedSince, openDuckDbStore, type DeviceDelivery } from './storage/index.ts';
export { seedDemoAccounts, writeSecretFile, readablePassword, type DemoAccounts, type DemoLogin } from './auth/seed.ts';
export { AccountStore } from './auth/accounts.ts';
export { ACCOUNTS_FILE_NAME } from './server.ts';
export {
  ensureCertificates,
  serverCertificateProblem,
  normaliseHost,
  CertificateError,
  CA_CERT_FILE,
  CA_KEY_FILE,
  type CertificateSet,
  type EnsureCertificatesOptions,
  type ServerCertificateFiles,
  type ServerCertificateRequest,
} from './tls/certificates.ts';
export { isLoopbackHost } from './tls/loopback.ts';
