import { EventEmitter } from 'eventemitter3';
import type { UpkeepEventMap, UpkeepEventName } from './event-map';

type Listener<E extends UpkeepEventName> = (payload: UpkeepEventMap[E]) => unknown;

/**
 * Typed event emitter of upkeep. Unlike a plain emitter, a listener that throws (or
 * returns a rejected promise) never reaches the emitter's caller: the error is reported
 * as `runner:error` (during `listener:<event>`) and the other listeners still run.
 */
export class UpkeepEvents {
  private readonly emitter = new EventEmitter();
  private readonly onceWrappers = new WeakMap<object, (...args: unknown[]) => void>();

  /** Adds a listener. */
  on<E extends UpkeepEventName>(event: E, listener: Listener<E>): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Adds a listener that runs once. */
  once<E extends UpkeepEventName>(event: E, listener: Listener<E>): this {
    // Listeners are called by emit() below, not by eventemitter3, so once-ness is ours.
    const wrapper = (payload: unknown) => {
      this.off(event, listener);
      return (listener as (p: unknown) => unknown)(payload);
    };
    this.onceWrappers.set(listener, wrapper);
    this.emitter.on(event, wrapper);
    return this;
  }

  /** Removes a listener. */
  off<E extends UpkeepEventName>(event: E, listener: Listener<E>): this {
    const wrapper = this.onceWrappers.get(listener);
    if (wrapper) this.emitter.off(event, wrapper);
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Removes every listener (of one event, or of all). */
  removeAllListeners(event?: UpkeepEventName): this {
    this.emitter.removeAllListeners(event);
    return this;
  }

  /** Number of listeners of an event. */
  listenerCount(event: UpkeepEventName): number {
    return this.emitter.listenerCount(event);
  }

  /** Resolves with the next payload of `event` (handy in tests and scripts). */
  next<E extends UpkeepEventName>(event: E, filter?: (payload: UpkeepEventMap[E]) => boolean): Promise<UpkeepEventMap[E]> {
    return new Promise((resolve) => {
      const listener = (payload: UpkeepEventMap[E]) => {
        if (filter && !filter(payload)) return;
        this.off(event, listener);
        resolve(payload);
      };
      this.on(event, listener);
    });
  }

  /** Emits an event to every listener, isolating listener failures. @internal */
  emit<E extends UpkeepEventName>(event: E, payload: UpkeepEventMap[E]): void {
    if (!this.emitter.listenerCount(event)) return;
    for (const listener of this.emitter.listeners(event) as Listener<E>[]) {
      try {
        const result = listener(payload);
        if (result && typeof (result as Promise<unknown>).then === 'function') {
          (result as Promise<unknown>).then(undefined, (error: unknown) => this.listenerFailed(event, error));
        }
      } catch (error) {
        this.listenerFailed(event, error);
      }
    }
  }

  private listenerFailed(event: UpkeepEventName, error: unknown): void {
    if (event === 'runner:error') return; // never loop
    const e = error instanceof Error ? error : new Error(String(error));
    this.emit('runner:error', { runnerId: null, error: { name: e.name, message: e.message }, during: `listener:${event}` });
  }
}
