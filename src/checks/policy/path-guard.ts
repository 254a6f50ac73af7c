import { lookupPathNode, resolveHostLinks, type PathNode } from '../../host/host-file.js';
import { join, posix } from 'node:path';

/** Evidence reason for a path the agent's configuration keeps from audits. */
export const DENIED_REASON = "not readable by audits (denied by the agent's configuration)";
/** Evidence reason for a FIFO, socket or device: opening one can block, consume data or act on hardware. */
export const NOT_REGULAR_REASON = 'not a regular file';

/**
 * An access a rule may not make: a denied path, a file that is not a regular
 * file, a kernel file whose reading has effects. The message is the evidence,
 * `<path>: <reason>`; the rule that met it becomes not applicable.
 */
export class AccessRefusedError extends Error {
  readonly code = 'EBULWARK_REFUSED';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'AccessRefusedError';
  }
}

export function isAccessRefused(err: unknown): err is AccessRefusedError {
  return err instanceof AccessRefusedError;
}

/**
 * Kernel files never read for content, whatever the policy: reading
 * `/proc/kmsg` takes the messages away from syslog, `/proc/kcore` is the
 * machine's memory, a process's `mem` and `environ` hold its secrets (the
 * agent's own included). Matched against the path after symlinks, so
 * `/proc/self/environ` is one of them.
 */
const KERNEL_FILES: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  { pattern: /^\/proc\/kmsg$/, reason: 'not readable by audits (reading it consumes kernel messages)' },
  { pattern: /^\/proc\/kcore$/, reason: "not readable by audits (it is the machine's memory)" },
  { pattern: /^\/proc\/\d+(\/task\/\d+)?\/(mem|environ)$/, reason: "not readable by audits (a process's memory or environment)" },
];

/** Why a file's content must not be read (its path after symlinks), or undefined when it may be. */
export function kernelFileReason(canonicalPath: string): string | undefined {
  return KERNEL_FILES.find((k) => k.pattern.test(canonicalPath))?.reason;
}

/** Whether `path` is one of `roots` or below one of them (all host-absolute and normalised). */
export function isUnderAny(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => root === '/' || path === root || path.startsWith(`${root}/`));
}

/**
 * Host paths under an audit root, resolved the way the kernel would inside a
 * chroot: symlinks (absolute ones from the root) and `..` after them. This is
 * what the denied-path check compares, and what the context then opens, so the
 * path checked is the path read — on a live root too, where the kernel would
 * otherwise follow the links itself.
 *
 * One instance serves one evaluation: what it learns of each path (a symlink,
 * a plain entry, nothing) is kept, so the components shared by thousands of
 * paths are looked at once.
 */
export class HostPaths {
  private readonly nodes = new Map<string, Promise<PathNode>>();
  private readonly resolved = new Map<string, Promise<string>>();
  private denied: Promise<readonly string[]> | undefined;

  constructor(
    readonly root: string,
    private readonly deniedPaths: readonly string[] = [],
  ) {}

  /** Where a host path lives on this machine. */
  real(hostPath: string): string {
    return join(this.root, hostPath);
  }

  private node(hostPath: string): Promise<PathNode> {
    let pending = this.nodes.get(hostPath);
    if (pending === undefined) {
      pending = lookupPathNode(this.root, hostPath);
      this.nodes.set(hostPath, pending);
    }
    return pending;
  }

  /**
   * The host path with every symlink and `..` resolved inside the root. A
   * missing component ends the resolution: the rest is appended as written,
   * for the access to report as missing. Rejects with ELOOP past 40 links.
   */
  canonical(path: string): Promise<string> {
    const absolute = posix.resolve('/', path);
    let pending = this.resolved.get(absolute);
    if (pending === undefined) {
      pending = this.walk(absolute);
      this.resolved.set(absolute, pending);
    }
    return pending;
  }

  private walk(absolute: string): Promise<string> {
    return resolveHostLinks(absolute, (hostPath) => this.node(hostPath));
  }

  /** The denied paths as configured and as resolved (a denied path that is a symlink denies its target too). */
  deniedForms(): Promise<readonly string[]> {
    this.denied ??= (async () => {
      const forms = new Set<string>();
      for (const path of this.deniedPaths) {
        const absolute = posix.resolve('/', path);
        forms.add(absolute);
        forms.add(await this.canonical(absolute).catch(() => absolute));
      }
      return [...forms];
    })();
    return this.denied;
  }

  /** Whether any path is denied at all: without, nothing needs resolving to be checked. */
  get hasDenied(): boolean {
    return this.deniedPaths.length > 0;
  }

  /** Whether a path is denied: as written (normalised) or once resolved. */
  async isDenied(path: string, canonical: string): Promise<boolean> {
    if (!this.hasDenied) return false;
    const denied = await this.deniedForms();
    return isUnderAny(posix.resolve('/', path), denied) || isUnderAny(canonical, denied);
  }
}
