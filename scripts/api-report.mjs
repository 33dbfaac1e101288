// The public API report of every entry point (etc/api/NAME.api.md), made by API Extractor from the
// built declarations. `npm run api:check` fails when the surface differs from the reviewed
// report; `npm run api:update` writes the new report, to be reviewed in the diff and committed.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = resolve(import.meta.dirname, '..');
const update = process.argv.includes('--update');
// The entries of tsup.config.ts, as scripts/sync-exports.mjs reads them.
const config = readFileSync(join(root, 'tsup.config.ts'), 'utf8');
const block = config.match(/export const entry = \{([\s\S]*?)\};/)[1];
const names = [...block.matchAll(/['"]?([\w/-]+)['"]?\s*:\s*'src\//g)].map((m) => m[1]);

let failed = 0;
for (const name of names) {
  const prepared = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: `<projectFolder>/dist/${name}.d.ts`,
      compiler: {
        overrideTsconfig: {
          compilerOptions: { lib: ['es2022', 'dom'], types: ['node'], skipLibCheck: true, strict: true },
          files: [`dist/${name}.d.ts`],
        },
      },
      apiReport: {
        enabled: true,
        reportFileName: name.replace('/', '-'),
        reportFolder: '<projectFolder>/etc/api/',
        reportTempFolder: '<projectFolder>/node_modules/.cache/api-report/',
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        // Release tags (@public/@beta) are not used here; the TSDoc rules are typedoc's job.
        extractorMessageReporting: { 'ae-missing-release-tag': { logLevel: 'none' } },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: join(root, 'api-extractor.json'),
    packageJsonFullPath: join(root, 'package.json'),
  });
  const result = Extractor.invoke(prepared, { localBuild: update, messageCallback: quiet });
  if (!result.succeeded || (!update && result.apiReportChanged)) {
    failed++;
    console.error(`${name}: the public API differs from etc/api/${name.replace('/', '-')}.api.md`);
  }
}
if (failed) {
  console.error(
    `\n${failed} entr${failed === 1 ? 'y' : 'ies'} changed. If the change is meant, run \`npm run api:update\` and commit the reports.`,
  );
  process.exit(1);
}
console.log(update ? 'API reports written to etc/api/' : 'API reports match etc/api/');

/** Keeps API Extractor's per-run chatter out of the output; warnings and errors stay. */
function quiet(message) {
  if (message.logLevel === 'info' || message.logLevel === 'verbose') message.handled = true;
}
