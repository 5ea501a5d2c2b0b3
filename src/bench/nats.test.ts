import { describe, expect, it } from "vitest";
import { natsLines, natsRecord, type NatsFigures } from "./nats.js";

const f: NatsFigures = {
  messages: 20_000,
  rounds: 3,
  replicas: 5,
  pipelined: { tcp: 30_000, nats: 15_000, tcpDurable: 25_000, natsDurable: 10_000 },
  updateMs: { tcp: 70, nats: 77, tcpDurable: 68, natsDurable: 136 },
};

describe("the NATS bench's report", () => {
  it("puts each NATS figure beside the TCP mesh's of the same durability, as a ratio", () => {
    const lines = natsLines(f);
    expect(lines[1]).toMatch(/TCP mesh: pipelined 30,?000 msgs\/s, update 70 ms$/);
    expect(lines[2]).toMatch(/NATS \(core\): pipelined 15,?000 msgs\/s, update 77 ms \(0\.50 of TCP mesh; update 1\.10x\)/);
    expect(lines[4]).toMatch(/NATS, stores \(JetStream\): pipelined 10,?000 msgs\/s, update 136 ms \(0\.40 of TCP mesh, stores; update 2\.00x\)/);
    expect(natsRecord(f)).toMatchObject({ natsDurablePipelinedMsgsPerSec: 10_000, natsDurableUpdateMs: 136, tcpUpdateMs: 70 });
  });
});
