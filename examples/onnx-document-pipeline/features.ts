/** Features per document: the generated scorer model's input width. */
export const FEATURES = 64;

/**
 * A deterministic bag-of-words featurizer: each word is hashed into one of FEATURES
 * buckets, counts are L2-normalised. Stands in for a real embedding model.
 */
export function featurize(text: string, out = new Float32Array(FEATURES)): Float32Array {
  out.fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
    out[(h >>> 0) % FEATURES]! += 1;
  }
  const norm = Math.hypot(...out) || 1;
  for (let i = 0; i < FEATURES; i++) out[i]! /= norm;
  return out;
}
