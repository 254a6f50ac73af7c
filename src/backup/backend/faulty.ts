import type { Backend, ByteRange, FileInfo, FileKind } from './backend.js';

/** Called before each write and remove; throwing makes that call fail as the storage would. */
export type Fault = (op: 'write' | 'remove', kind: FileKind, name: string) => void;

/**
 * A backend that passes everything through to another, except the writes and
 * removals its fault function throws for: storage that filled up, a crash at a
 * chosen step. For tests of what the engine leaves behind when storage fails.
 */
export class FaultyBackend implements Backend {
  readonly location: string;

  constructor(
    private readonly inner: Backend,
    private readonly fault: Fault,
  ) {
    this.location = inner.location;
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  list(kind: FileKind): AsyncIterable<FileInfo> {
    return this.inner.list(kind);
  }

  read(kind: FileKind, name: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.read(kind, name, range);
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[], options?: { exclusive?: boolean }): Promise<void> {
    this.fault('write', kind, name);
    await this.inner.write(kind, name, data, options);
  }

  async remove(kind: FileKind, name: string): Promise<void> {
    this.fault('remove', kind, name);
    await this.inner.remove(kind, name);
  }

  stat(kind: FileKind, name: string): Promise<FileInfo | undefined> {
    return this.inner.stat(kind, name);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A backend that passes every call to `inner` except those `overrides` replaces: a test double that changes one thing. */
export function overriding(inner: Backend, overrides: Partial<Backend>): Backend {
  return {
    location: inner.location,
    create: () => inner.create(),
    list: (kind) => inner.list(kind),
    read: (kind, name, range) => inner.read(kind, name, range),
    write: (kind, name, data, options) => inner.write(kind, name, data, options),
    remove: (kind, name) => inner.remove(kind, name),
    stat: (kind, name) => inner.stat(kind, name),
    close: () => inner.close(),
    ...(inner.openWriter ? { openWriter: inner.openWriter.bind(inner) } : {}),
    ...overrides,
  };
}
