// Types of check-cli-package.mjs, for the tests that import it.
export const CLI_PACKAGE: string;
export function bundleImports(dir: string): string[];
export function cliPackageProblems(cli: object, rootPkg: object, imports: readonly string[]): string[];
export function checkCliPackage(): string[];
