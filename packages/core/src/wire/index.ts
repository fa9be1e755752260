// Wire codecs and replicas (browser-safe): see codecs.ts for the list, worker-wire.ts for the worker's API.
export { WIRE_CODECS, isWireCodec, usesReplicas, topkDensity, TOPK_DENSITY, REPLICA_CHECK_EVERY } from './codecs.js';
export type { WireCodec } from './codecs.js';
export { toBf16, fromBf16, roundToBf16 } from './bf16.js';
export { PACKED_FORMAT, packBf16, packSparse, packTopk, decodePacked, decodeSparseEntries, scatterEntries, maxPackedBytes } from './packed.js';
export type { SparseEntries } from './packed.js';
export { selectTopK } from './topk.js';
export { UploadEncoder } from './upload.js';
export { applyReplicaUpdate, replicaHash, replicaStateNames, updateScalars } from './replica.js';
export type { UpdateScalars } from './replica.js';
export { createReplicaArrays } from './replica-kernel.js';
export type { ReplicaArrays } from './replica-kernel.js';
export { WorkerWire, WireError } from './worker-wire.js';
export { extrapolate } from './lookahead.js';
export { CoordinatorWire } from './coordinator-wire.js';
