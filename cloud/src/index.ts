export { startCloud, type Cloud } from './server.ts';
export { CloudConfig, loadCloudConfig, parseCloudConfig } from './config.ts';
export { Ingest, INGEST_REJECT_REASONS } from './ingest.ts';
export type { SchoolSummary, DeviceView, Figures } from './api/schemas.ts';
export { droppedSince, openDuckDbStore, type DeviceDelivery } from './storage/index.ts';
