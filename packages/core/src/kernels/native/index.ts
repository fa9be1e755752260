export { createNativeKernels, NativeKernels, NativeKernelsError } from './backend.js';
export { nativeKernelsStatus, NATIVE_ADDON_PATH, type NativeStatus } from './addon.js';
export { selectNodeKernels, defaultNodeKernels } from './select.js';
