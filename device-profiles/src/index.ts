export * from './ids.ts';
export * from './wire.ts';
export * from './profile-schema.ts';
export * from './profiles.ts';
export * from './readings.ts';
export * from './inventory.ts';
export * from './json-file.ts';
export * from './school-time.ts';
