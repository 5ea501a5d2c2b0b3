import { describe, expect, it } from "vitest";
import { BusyError, explainConnectionError, NodeUnreachableError } from "./errors.js";

const sysError = (code: string, message: string): Error => Object.assign(new Error(message), { code });

describe("a node that cannot be reached is named, with its address and what to check", () => {
  it("puts a socket's code into words", () => {
    expect(explainConnectionError(sysError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1"), false)).toBe("nothing listens there: connection refused");
    expect(explainConnectionError(sysError("ECONNRESET", "read ECONNRESET"), true)).toMatch(/reset \(during the TLS handshake this means a certificate was refused\)/);
    expect(explainConnectionError(sysError("ENOTFOUND", "getaddrinfo ENOTFOUND nohost"), false)).toBe("the host name does not resolve");
    expect(explainConnectionError(sysError("ERR_TLS_CERT_ALTNAME_INVALID", "bad name"), true)).toBe("the TLS handshake failed (bad name)");
    expect(explainConnectionError(new Error("something else"), false)).toBe("something else");
  });

  it("the error names the node and the address and says what to check", () => {
    const e = new NodeUnreachableError("r1", "10.0.0.2:7402", "nothing listens there: connection refused");
    expect(e.message).toBe(
      'node "r1" at 10.0.0.2:7402 cannot be reached (nothing listens there: connection refused). Check that it is running ' +
        "(`liveswap cluster up` or `liveswap node --id r1`), that 10.0.0.2:7402 is the address it listens on, and with TLS " +
        "that both certificates come from the cluster's CA",
    );
    expect(e).toMatchObject({ code: "NODE_UNREACHABLE", node: "r1", address: "10.0.0.2:7402" });
  });
});

describe("a busy node", () => {
  it("names the node, the neighbour it waits on and the figures, says nothing ran and to retry later; the client rebuilds it from the reply", () => {
    const e = new BusyError("a", "b", 48 * 1024 * 1024, 64 * 1024 * 1024);
    expect(e.message).toBe(
      'node "a" is busy: its outbox to "b" is backed up (48.0 MiB of its 64.0 MiB disk quota spilled) while it waits for "b" to acknowledge; ' +
        'the request was not accepted (nothing ran). Retry later, and check that "b" is running and reachable (`liveswap ctl status`)',
    );
    const again = BusyError.fromDetail("a", e.detail);
    expect(again).toBeInstanceOf(BusyError);
    expect(again?.message).toBe(e.message);
    expect(again).toMatchObject({ code: "BUSY", node: "a", waitingOn: "b" });
    expect(BusyError.fromDetail("a", "not json")).toBeUndefined();
    expect(BusyError.fromDetail("a", undefined)).toBeUndefined();
  });
});
