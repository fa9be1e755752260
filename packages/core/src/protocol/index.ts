// The wire protocol: message union, codec, and the parser that guards every receiver.
export * from './messages.js';
export { encodeMessage, FrameWriter, decodeFrame, float32View } from './codec.js';
export { parseMessage, decodeMessage, DEFAULT_LIMITS, ProtocolError } from './parse.js';
export type { ProtocolLimits, ProtocolErrorCode } from './parse.js';
export { datasetId } from './dataset-id.js';
