import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';

/**
 * zstd's own contexts (zstd-napi's low-level binding): compression into a
 * caller's buffer with a context kept across calls. A context per call costs
 * more than compressing a small blob, and an output buffer per call costs
 * page faults; both showed in profiles of the backup path.
 */
export const zstd = createRequire(import.meta.url)('zstd-napi/binding') as typeof ZstdBinding;
