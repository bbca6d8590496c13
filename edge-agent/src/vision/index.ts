/**
 * Face counting for classroom attendance. Public surface: FaceCounter (worker thread,
 * counts only). The detector and tiling are exported for the CLI and the benchmark.
 */
export { FaceCounter, FaceCounterError, type FaceCounterOptions, type FaceCountResult } from './worker.ts';
export { FaceDetector, ImageDecodeError, blazeFaceModelPath, type DetectorOptions, type FaceCount } from './detector.ts';
export { CLASSROOM_TILING, planTiles, type TilingOptions } from './tiling.ts';
