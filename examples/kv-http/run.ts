// The HTTP key-value service in front of a running cluster (see README-CLIENT.md).
// Run: npx tsx examples/kv-http/run.ts examples/kv-http/cluster.yaml [--port 8080] [--node kv0]
import { parseArgs } from "node:util";
import { connectCluster } from "liveswap/cluster";
import { createKvServer } from "./server.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { port: { type: "string", default: "8080" }, node: { type: "string" } } });
const file = positionals[0] ?? "examples/kv-http/cluster.yaml";
const cluster = await connectCluster({ cluster: file });
const node = values.node ?? cluster.nodes[0]?.id ?? "kv0";
const server = createKvServer(cluster, { node });
server.listen(Number(values.port), "127.0.0.1", () => console.log(`kv service on http://127.0.0.1:${values.port} (writes through "${node}" of ${file})`));
const stop = (): void => {
  server.close();
  cluster.close();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
