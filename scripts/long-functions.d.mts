// Types for scripts/long-functions.mjs, so TypeScript tests can import it (the repo does not use allowJs).
export interface LongFunction {
  /** "src/file.ts: Qualified.name", the allowlist's key (no line number: it moves with every edit above). */
  readonly key: string;
  readonly file: string;
  readonly line: number;
  readonly lines: number;
  readonly name: string;
}
export interface AllowlistEntry {
  readonly function: string;
  readonly reason: string;
}
export declare const DEFAULT_MAX_LINES: number;
export declare const ALLOWLIST_FILE: string;
export declare function longFunctions(opts?: { readonly maxLines?: number; readonly files?: readonly string[] }): LongFunction[];
export declare function readAllowlist(file?: string): AllowlistEntry[];
export declare function checkAgainst(
  found: readonly LongFunction[],
  allowlist: readonly AllowlistEntry[],
): { unlisted: LongFunction[]; stale: string[]; unexplained: string[] };
