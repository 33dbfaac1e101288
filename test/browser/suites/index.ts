// Every suite that runs in the browser: in the page (page.browser.test.ts) and again inside a Web
// Worker (worker.ts). To add a suite — e.g. the container/backup API once it lands — write
// `suites/backup.ts` exporting a `Suite` (see ../harness.ts) and add it to this list: one import.
import type { Suite } from '../harness.js';
import { chunkedSuite } from './chunked.js';
import { kdfSuite } from './kdf.js';
import { keySuite } from './key.js';
import { whatsappSuite } from './whatsapp.js';
import { wycheproofSuite } from './wycheproof.js';

export const SUITES: Suite[] = [
  keySuite,
  kdfSuite,
  chunkedSuite('webcrypto'),
  wycheproofSuite(),
  whatsappSuite,
];
