// How the browser tests, the consumer checks and bench:browser find and start Chromium: Debian's
// package (scripts/install-chromium.sh), headless in a container — no sandbox, no GPU, no
// background traffic. One list, so that all of them run the same browser the same way.
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
