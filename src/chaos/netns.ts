/** Placeholder until the namespace fabric lands (helper branch wt-netns): says namespaces are not available. */
export interface NetnsNetwork {
  nsName(id: string): string;
  ipOf(id: string): string;
  readonly hostIp: string;
  cutPort(id: string, port: number): Promise<void>;
  healPort(id: string, port: number): Promise<void>;
  isolate(id: string): Promise<void>;
  rejoin(id: string): Promise<void>;
  close(): Promise<void>;
}
export async function netnsSupport(): Promise<{ readonly ok: true } | { readonly ok: false; readonly why: string }> {
  return { ok: false, why: "network namespaces are not built into this liveswap yet" };
}
export async function createNetnsNetwork(_ids: readonly string[]): Promise<NetnsNetwork> {
  throw new Error("network namespaces are not built into this liveswap yet");
}
