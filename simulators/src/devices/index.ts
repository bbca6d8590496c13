export { startSchoolDevices, isServed, payloadOf, MAX_UNACKED, type FleetLogger, type SchoolDevices, type SchoolDevicesOptions, type ServedDevice } from './fleet.ts';
export { VALUE_MODELS, genericModel, modelFor } from './models.ts';
export type { RoomActivity, SampleContext, ValueModel } from './model.ts';
export { projectorModel, type ProjectorState } from './projector.ts';
export { cameraModel, absentees, type CameraState } from './camera.ts';
export { boardModel, type BoardState } from './board.ts';
export { routerModel, type RouterState } from './router.ts';
export { linkProbeModel, type LinkProbeState } from './link-probe.ts';
export { labControllerModel, type LabControllerState } from './lab-controller.ts';
