/**
 * Where benchmarks that measure fsync put their files: a disk, never a tmpfs (where fsync costs nothing), and the
 * filesystem's type, which their reports name so that a tmpfs figure is never mistaken for a disk's.
 */
import { accessSync, constants, existsSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";

/** /var/tmp when it can be written (a disk by convention), else the temp directory. */
export function benchRoot(): string {
  try {
    accessSync("/var/tmp", constants.W_OK);
    return "/var/tmp";
  } catch {
    return tmpdir();
  }
}

/** The type of the filesystem holding `path` ("ext4", "tmpfs"), from /proc/mounts; "unknown" elsewhere. */
export function filesystemOf(path: string): string {
  if (!existsSync("/proc/mounts")) return "unknown";
  const real = realpathSync(path);
  let best = { mount: "", type: "unknown" };
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    const [, mount, type] = line.split(" ");
    if (mount === undefined || type === undefined) continue;
    const inside = real === mount || real.startsWith(mount.endsWith("/") ? mount : `${mount}/`);
    if (inside && mount.length >= best.mount.length) best = { mount, type };
  }
  return best.type;
}
