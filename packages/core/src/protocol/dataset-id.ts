/**
 * The dataset identity that `hello`, `welcome` and `dataset` carry: both splits' content
 * hashes (datasetHash, SHA-256 hex) cut to 128 bits each. Equal ids mean the same images
 * and labels in the same order, so indices mean the same thing on both sides.
 */
export function datasetId(trainHash: string, testHash: string): string {
  return `${trainHash.slice(0, 32)}-${testHash.slice(0, 32)}`;
}
