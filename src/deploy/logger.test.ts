import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { logFormat, logLevel, makeLogger } from "./logger.js";

const dir = mkdtempSync(join(tmpdir(), "liveswap-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("operational logs", () => {
  it("as JSON: one pino record a line, with level, time, pid, the base fields and the record's own; below the level nothing", () => {
    const file = join(dir, "node.log");
    const fd = openSync(file, "w");
    const log = makeLogger({ format: "json", level: "info", fd, base: { node: "r1", component: "node" } });
    log.debug("not written");
    log.info('node "r1" listening', { address: "127.0.0.1:7401" });
    log.error("its store failed to commit", { peer: "r2" });
    closeSync(fd);
    const records = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ level: 30, node: "r1", component: "node", msg: 'node "r1" listening', address: "127.0.0.1:7401", pid: process.pid });
    expect(typeof records[0]?.time).toBe("string");
    expect(records[1]).toMatchObject({ level: 50, msg: "its store failed to commit", peer: "r2" });
  });

  it("as text: the line alone at info, prefixed with its level above, nothing below the level", () => {
    const lines: string[] = [];
    const log = makeLogger({ level: "warn", write: (l) => lines.push(l) });
    log.info("quiet");
    log.warn("a neighbour unlinked this node while it was down");
    log.error("stops");
    expect(lines).toEqual(["warn: a neighbour unlinked this node while it was down", "error: stops"]);
    const all: string[] = [];
    makeLogger({ write: (l) => all.push(l) }).info("listening");
    expect(all).toEqual(["listening"]);
  });

  it("refuses an unknown format or level, naming the choices", () => {
    expect(() => logFormat("yaml")).toThrow(/option --log-format: "yaml" is not a log format; choose text or json/);
    expect(() => logLevel("loud")).toThrow(/option --log-level: "loud" is not a log level; choose one of debug, info, warn, error/);
  });
});
