// What vitest.browser.config.ts hands to the tests through `provide`/`inject` (the page cannot read
// ../shared itself).
import type { SharedData } from './harness.js';

declare module 'vitest' {
  export interface ProvidedContext {
    shared: SharedData;
    /** The project's own vectors (every .json under vectors/), by path relative to vectors/. */
    projectVectors: Record<string, unknown>;
  }
}
