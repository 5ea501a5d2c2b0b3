#!/usr/bin/env node
/**
 * Lists every function, method, constructor, accessor and arrow of src/ (tests
 * excepted) longer than a limit (80 lines by default), with file:line, length
 * and a name that survives edits elsewhere in the file (line numbers do not):
 * `src/update/rollback.ts: RollbackAgent.onInput`.
 *
 *   node scripts/long-functions.mjs            the list, longest first
 *   node scripts/long-functions.mjs --json     the same as JSON
 *   node scripts/long-functions.mjs --check    exit 1 if one is missing from
 *                                              scripts/long-functions-allowlist.json,
 *                                              or an allowlisted one is no longer long
 *
 * A long function is split, or allowlisted with a one-line reason. Nested
 * functions count on their own: a long method holding a long callback is two
 * entries. The length is the node's span, signature and closing brace included.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_MAX_LINES = 80;
export const ALLOWLIST_FILE = join(ROOT, "scripts", "long-functions-allowlist.json");

/** @param {string} dir @returns {string[]} */
function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => {
      const path = join(dir, d.name);
      if (d.isDirectory()) return sourceFiles(path);
      return /\.m?ts$/.test(d.name) && !/\.test\.m?ts$/.test(d.name) && !d.name.endsWith(".d.ts") ? [path] : [];
    })
    .sort();
}

/** @param {ts.Node} node @param {ts.SourceFile} sf */
function nameOf(node, sf) {
  const n = /** @type {{ name?: ts.Node }} */ (node).name;
  if (n !== undefined && (ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isPrivateIdentifier(n) || ts.isNumericLiteral(n))) return n.text;
  if (n !== undefined && ts.isComputedPropertyName(n)) return `[${n.expression.getText(sf)}]`;
  return undefined;
}

/** The name a function is known by where it is defined; undefined for a container without one. @param {ts.Node} node @param {ts.SourceFile} sf */
function ownName(node, sf) {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (ts.isGetAccessorDeclaration(node)) return `get ${nameOf(node, sf)}`;
  if (ts.isSetAccessorDeclaration(node)) return `set ${nameOf(node, sf)}`;
  const own = nameOf(node, sf);
  if (own !== undefined) return own;
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    const p = node.parent;
    if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return nameOf(p, sf);
    if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression !== node) {
      const callee = p.expression.getText(sf).replace(/\s+/g, "");
      return `${ts.isNewExpression(p) ? "new " : ""}${callee.length > 40 ? `${callee.slice(0, 40)}…` : callee}(callback)`;
    }
    return "(anonymous)";
  }
  return undefined;
}

/** @param {ts.Node} node */
const isFunctionLike = (node) =>
  ts.isFunctionDeclaration(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessorDeclaration(node) ||
  ts.isSetAccessorDeclaration(node) ||
  ts.isArrowFunction(node) ||
  ts.isFunctionExpression(node);

/** Containers that qualify a name: classes, and variables or properties holding an object of methods. @param {ts.Node} node @param {ts.SourceFile} sf */
function containerName(node, sf) {
  if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) return nameOf(node, sf) ?? "(class)";
  // A variable or property holding a function is named by that function itself (ownName), not twice.
  if ((ts.isVariableDeclaration(node) || ts.isPropertyAssignment(node)) && !(node.initializer !== undefined && isFunctionLike(node.initializer))) {
    return nameOf(node, sf);
  }
  return undefined;
}

/**
 * Every function-like node longer than `maxLines` in the given files.
 * @param {{ maxLines?: number, files?: string[] }} [opts]
 * @returns {{ key: string, file: string, line: number, lines: number, name: string }[]}
 */
export function longFunctions(opts = {}) {
  const maxLines = opts.maxLines ?? DEFAULT_MAX_LINES;
  /** @type {{ key: string, file: string, line: number, lines: number, name: string }[]} */
  const out = [];
  for (const path of opts.files ?? sourceFiles(join(ROOT, "src"))) {
    const file = relative(ROOT, path).replaceAll("\\", "/");
    const sf = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    /** Names already used in this file: a second anonymous callback of the same scope gets "#2". */
    const seen = new Map();
    /** @param {ts.Node} node @param {string[]} scope */
    const visit = (node, scope) => {
      let inner = scope;
      if (isFunctionLike(node)) {
        const own = ownName(node, sf) ?? "(anonymous)";
        let name = [...scope, own].join(".");
        const count = (seen.get(name) ?? 0) + 1;
        seen.set(name, count);
        if (count > 1) name = `${name}#${count}`;
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
        const lines = end - start + 1;
        if (lines > maxLines) out.push({ key: `${file}: ${name}`, file, line: start, lines, name });
        inner = [...scope, own];
      } else {
        const c = containerName(node, sf);
        if (c !== undefined) inner = [...scope, c];
      }
      ts.forEachChild(node, (child) => visit(child, inner));
    };
    visit(sf, []);
  }
  return out.sort((a, b) => b.lines - a.lines || a.key.localeCompare(b.key));
}

/** @returns {{ function: string, reason: string }[]} */
export function readAllowlist(file = ALLOWLIST_FILE) {
  return JSON.parse(readFileSync(file, "utf8"));
}

/**
 * What --check refuses: long functions not in the allowlist, allowlisted ones
 * that are no longer long (delete the entry, so they cannot grow back unseen),
 * and entries without a reason.
 * @param {ReturnType<typeof longFunctions>} found
 * @param {{ function: string, reason: string }[]} allowlist
 */
export function checkAgainst(found, allowlist) {
  const allowed = new Set(allowlist.map((a) => a.function));
  const long = new Set(found.map((f) => f.key));
  return {
    unlisted: found.filter((f) => !allowed.has(f.key)),
    stale: allowlist.filter((a) => !long.has(a.function)).map((a) => a.function),
    unexplained: allowlist.filter((a) => typeof a.reason !== "string" || a.reason.trim() === "").map((a) => a.function),
  };
}

function main() {
  const args = process.argv.slice(2);
  const maxAt = args.indexOf("--max");
  const maxLines = maxAt >= 0 ? Number(args[maxAt + 1]) : DEFAULT_MAX_LINES;
  if (!Number.isInteger(maxLines) || maxLines < 1) {
    process.stderr.write("long-functions: --max takes a positive whole number of lines\n");
    process.exit(2);
  }
  const found = longFunctions({ maxLines });
  if (args.includes("--json")) {
    process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
  } else if (!args.includes("--check")) {
    for (const f of found) process.stdout.write(`${f.file}:${f.line}  ${f.lines} lines  ${f.name}\n`);
  }
  if (args.includes("--check")) {
    const { unlisted, stale, unexplained } = checkAgainst(found, readAllowlist());
    for (const f of unlisted) process.stdout.write(`${f.file}:${f.line}: ${f.name} is ${f.lines} lines (over ${maxLines}): split it, or allowlist "${f.key}" with a reason\n`);
    for (const s of stale) process.stdout.write(`"${s}" is allowlisted but no longer over ${maxLines} lines (or gone): delete its entry\n`);
    for (const u of unexplained) process.stdout.write(`"${u}" is allowlisted without a reason\n`);
    process.exit(unlisted.length + stale.length + unexplained.length > 0 ? 1 : 0);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
