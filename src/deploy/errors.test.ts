import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DIAL_TIMEOUT, tlsMaterialProblem } from "../network/tcp/sockets.js";
import { ClusterClient } from "./cluster-client.js";
import { parseCluster } from "./cluster-file.js";
import { BusyError, explainConnectionError, fileProblem, NodeConfigError, NodeNotAnsweringError, NodeUnreachableError, UnknownClusterNodeError } from "./errors.js";
import { keysInit } from "./keys.js";

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

describe("errors over TCP name the thing, with no raw library text", () => {
  const keys = mkdtempSync(join(tmpdir(), "liveswap-err-keys-"));
  const other = mkdtempSync(join(tmpdir(), "liveswap-err-other-"));
  beforeAll(() => {
    keysInit(keys, ["a", "b"]);
    keysInit(other, ["a"]);
  }, 60_000);
  const pem = (dir: string, f: string): string => readFileSync(join(dir, f), "utf8");
  const names = { ca: "ca.crt", cert: "a.crt", key: "b.key" };

  it("a certificate and a key that do not match (OpenSSL says \"key values mismatch\")", () => {
    expect(tlsMaterialProblem({ ca: pem(keys, "ca.crt"), cert: pem(keys, "a.crt"), key: pem(keys, "a.key") }, names)).toBeUndefined();
    expect(tlsMaterialProblem({ ca: pem(keys, "ca.crt"), cert: pem(keys, "a.crt"), key: pem(keys, "b.key") }, names)).toBe(
      "the private key b.key does not belong to the certificate a.crt: give each certificate its own key (`liveswap keys init` writes NAME.crt beside NAME.key)",
    );
  });

  it("a CA that is not a certificate, a certificate of another CA, a key that is not a key", () => {
    expect(tlsMaterialProblem({ ca: "garbage", cert: pem(keys, "a.crt"), key: pem(keys, "a.key") }, names)).toBe('the CA certificate ca.crt is not a PEM certificate ("-----BEGIN CERTIFICATE-----")');
    expect(tlsMaterialProblem({ ca: pem(keys, "ca.crt"), cert: pem(other, "a.crt"), key: pem(other, "a.key") }, names)).toBe(
      "the certificate a.crt is not signed by the cluster's CA ca.crt: make it with `liveswap keys init` from that CA",
    );
    expect(tlsMaterialProblem({ ca: pem(keys, "ca.crt"), cert: pem(keys, "a.crt"), key: pem(keys, "a.crt") }, names)).toMatch(/^the private key b\.key is not a PEM private key/);
  });

  it("an unreadable CA (and the pair mismatch) as the control plane meets them: the cluster file and the path named, no ENOENT", () => {
    const yaml = (ca: string, key: string): string =>
      `nodes:\n  - { id: a, address: "127.0.0.1:1", package: p.js, behavior: v1, cert: ${keys}/a.crt, key: ${keys}/a.key }\n` +
      `tls: { ca: ${ca}, control: { cert: ${keys}/control.crt, key: ${key} } }\n`;
    const file = join(keys, "cluster.yaml");
    expect(() => new ClusterClient(parseCluster(yaml(`${keys}/nope.crt`, `${keys}/control.key`), file))).toThrow(
      new NodeConfigError(`cannot read the CA certificate ${keys}/nope.crt: it does not exist (${file} names it); make them with \`liveswap keys init\``),
    );
    expect(() => new ClusterClient(parseCluster(yaml(`${keys}/ca.crt`, `${keys}/a.key`), file))).toThrow(
      new NodeConfigError(`${file}: the private key ${keys}/a.key does not belong to the certificate ${keys}/control.crt: give each certificate its own key (\`liveswap keys init\` writes NAME.crt beside NAME.key)`),
    );
  });

  it("a file that cannot be read, in words", () => {
    expect(fileProblem(sysError("ENOENT", "ENOENT: no such file"))).toBe("it does not exist");
    expect(fileProblem(sysError("EACCES", "EACCES: permission denied"))).toBe("this user may not read it (permission denied)");
    expect(fileProblem(sysError("EISDIR", "EISDIR"))).toBe("it is a directory, not a file");
  });

  it("a node id the cluster file does not have (a bad --root): the file and its nodes named", () => {
    const e = new UnknownClusterNodeError("zz", "update --root", "/srv/cluster.yaml", ["a", "b"]);
    expect(e.message).toBe('update --root: there is no node "zz" in /srv/cluster.yaml (it has: a, b); check the spelling, or add the node to the file');
    expect(e).toMatchObject({ code: "UNKNOWN_NODE", node: "zz" });
    const client = new ClusterClient(parseCluster('nodes:\n  - { id: a, address: "127.0.0.1:1", package: p.js, behavior: v1 }\n', "/srv/cluster.yaml"));
    return expect(client.update("{}", { strategy: "conservative", root: "zz" })).rejects.toThrow(/^update --root: there is no node "zz" in \/srv\/cluster\.yaml \(it has: a\)/);
  });

  it("a dial out of time, and TLS refusals, in words", () => {
    expect(explainConnectionError(sysError(DIAL_TIMEOUT, "no connection within 500 ms"), true)).toBe(
      "no connection within 500 ms: the host does not answer (a network cut, a firewall dropping packets, or a process that is stopped)",
    );
    expect(explainConnectionError(sysError("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"), true)).toBe(
      "the TLS handshake failed (the certificate it showed is not signed by the cluster's CA [SELF_SIGNED_CERT_IN_CHAIN])",
    );
    const e = new NodeNotAnsweringError("r1", "127.0.0.1:7402", 2000);
    expect(e.message).toBe(
      'node "r1" at 127.0.0.1:7402 did not answer within 2000 ms: its process may be stopped or overloaded, or the network to it cut. See its log; give more time with --timeout (ctl) or timeoutMs',
    );
    expect(e).toBeInstanceOf(NodeUnreachableError);
    expect(e.code).toBe("NODE_NOT_ANSWERING");
  });
});
