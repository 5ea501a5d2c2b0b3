// `liveswap/cluster`: the client of a running cluster, for programs (the same one `liveswap ctl` uses); re-exports only.
export { connectCluster } from "./cluster-connection.js";
export type { ClusterConnection, ClusterStatus, ClusterTls, ClusterUpdateOptions, ConnectOptions, WatchOptions } from "./cluster-connection.js";
export type { DestroyOutcome, DownNode, ForgetOutcome, RequestOptions, StatusOptions, UnlinkOutcome, UpdateProgress } from "./cluster-client.js";
export { DEFAULT_COMMAND_TIMEOUT_MS } from "./cluster-client.js";
export type { RetryPolicy } from "./request-retry.js";
export { DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY } from "./request-retry.js";
export type { NodeStatus, PeerStatus, UpdateView, UpdateOutcomeView } from "../network/tcp/protocol.js";
export { BusyError, ClusterClientClosedError, NodeAliveError, NodeNotAnsweringError, NodeUnreachableError, RemoteError } from "./errors.js";
export { RequestExpiredError, RequestFailedError, RequestIdReusedError, RequestTimeoutError, LiveswapError } from "../core/errors.js";
export { ForgetRefusedError, NoUpdateError, PrepareDeadlineError, PrepareFailedError, TakeoverRefusedError, UpdateAbortedError, UpdateFailedError, UpdateHaltedError, UpdateNotAbortableError } from "../core/errors.js";
export { DEFAULT_RETENTION } from "./request-records.js";
export type { RetentionOptions } from "./request-records.js";
// A cluster of local processes from a cluster file written on the fly: for tests and development.
export { startLocalCluster } from "./local-cluster.js";
export type { LocalCluster, LocalClusterSpec, LocalNodeSpec } from "./local-cluster.js";
export type { Cluster, ClusterNode, NatsTransport } from "./cluster-file.js";
