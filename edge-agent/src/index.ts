export { startEdgeAgent, AGENT_VERSION, type EdgeAgent } from './agent.ts';
export { EdgeConfig, ConfigError, loadEdgeConfig, parseEdgeConfig } from './config.ts';
export { DeviceIntake } from './device-intake.ts';
export * from './drivers/index.ts';
