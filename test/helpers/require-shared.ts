/**
 * Kept apart from shared-data.ts so that scripts outside vitest (web/assets/make-viewer-screenshot.ts)
 * can use those paths without importing vitest.
 */
import { it } from 'vitest';
import { hasShared, sharedSkipReason } from './shared-data.ts';

/**
 * Under CI=true a missing ../shared is a failure, not a skip: CI has the data, so a skip there
 * would hide a broken checkout. Call it next to a `describe.skipIf(skipWithoutShared)`.
 */
export function failWithoutSharedUnderCi(): void {
  it.runIf(process.env.CI === 'true' && !hasShared)('has ../shared (required when CI=true)', () => {
    throw new Error(`${sharedSkipReason} (CI=true requires it)`);
  });
}
