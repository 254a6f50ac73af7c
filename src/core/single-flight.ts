/**
 * One value built at a time and shared until dropped: every caller that asks
 * while it is being built waits for the same build. A build that fails is
 * forgotten (the next caller starts another), unless something newer has
 * replaced it meanwhile.
 */
export class SingleFlight<T> {
  #current: Promise<T> | undefined;

  /** The value held, or a fresh build of it. */
  get(build: () => Promise<T>): Promise<T> {
    return this.#current ?? this.set(build());
  }

  /** Holds `value` from now on (a refresh that found something new). */
  set(value: Promise<T>): Promise<T> {
    this.#current = value;
    value.catch(() => {
      if (this.#current === value) this.#current = undefined;
    });
    return value;
  }

  /** What is held now, to tell whether a result computed from it is still current. */
  get current(): Promise<T> | undefined {
    return this.#current;
  }

  drop(): void {
    this.#current = undefined;
  }
}
