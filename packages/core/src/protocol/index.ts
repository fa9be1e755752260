// The wire protocol: message union, codec, and the parser that guards every receiver.
export * from './messages.js';
export { encodeMessage, FrameWriter, decodeFrame } from './codec.js';
export { float32View } from '../bytes.js';
export { parseMessage, decodeMessage, DEFAULT_LIMITS, ProtocolError } from './parse.js';
export { MAX_RUNTIME } from './fields.js';
export type { ProtocolLimits, ProtocolErrorCode } from './parse.js';
export { datasetId } from './dataset-id.js';
export { ERROR_PREFIX, MAX_DETAIL, clipDetail, printable, usageErrorLine } from './text.js';
// A spec's layers as the dashboard names them: the page reaches core through this entry.
export { describeLayer, LAYER_TYPES, type LayerType } from '../layers/registry.js';
