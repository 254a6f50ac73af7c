import { constants, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BulwarkError } from '../core/errors.js';

/**
 * An open directory, and paths relative to it that the kernel resolves through
 * the open descriptor (`/proc/self/fd/N/name`) rather than by walking the path
 * again. A directory renamed away and replaced by a symlink after it was opened
 * cannot redirect what is created in it: Node has no openat(2), and this is
 * the Linux way to get its guarantee.
 */
export class DirHandle {
  private constructor(
    readonly handle: FileHandle,
    /** The path it was opened by, for messages only. */
    readonly display: string,
  ) {}

  /** Opens a directory; refuses a symlink in the last component (`O_NOFOLLOW`). */
  static async open(path: string, display = path): Promise<DirHandle> {
    if (!existsSync('/proc/self/fd')) throw new BulwarkError('CONFIG_INVALID', 'restoring and backing up safely needs /proc (mount procfs)');
    const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    return new DirHandle(handle, display);
  }

  /** A child directory, opened through this one. */
  child(name: string, display: string): Promise<DirHandle> {
    return DirHandle.open(this.at(name), display);
  }

  /** A path to `name` inside this directory that does not depend on the directory's own path. */
  at(name: string): string {
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
