import { EventEmitter } from 'eventemitter3';
import type { ServicePoolEventName, ServicePoolEvents } from './types';

/** A listener of one pool event. */
export type PoolListener<E extends ServicePoolEventName> = (payload: ServicePoolEvents[E]) => void;

/**
 * The pool's typed events. `has(event)` lets the pool skip building a payload nobody
 * listens to (the hot path builds none); a listener that throws does not disturb the pool
 * or the other listeners: its error is rethrown asynchronously.
 */
export class PoolEvents {
  private readonly emitter = new EventEmitter();
  private readonly onceWrappers = new WeakMap<object, (payload: unknown) => void>();
  /** Events with at least one listener, kept up on every change (the hot path asks often; every key present, so its shape never changes). */
  private readonly listened: Record<ServicePoolEventName, boolean> = {
    'pool:create': false,
    'pool:destroy': false,
    'pool:acquire': false,
    'pool:release': false,
    'pool:create-error': false,
    'pool:lease-timeout': false,
    'pool:evict': false,
  };
  /** `pool:acquire` has a listener (the hand-off path asks for it on every lease; a plain field reads fastest). */
  acquireListened = false;
  /** `pool:release` has a listener. */
  releaseListened = false;
  /** Called when the first listener of an event is added. */
  onFirstListener: ((event: ServicePoolEventName) => void) | undefined;

  has(event: ServicePoolEventName): boolean {
    return this.listened[event];
  }

  on<E extends ServicePoolEventName>(event: E, listener: PoolListener<E>): void {
    const first = !this.has(event);
    this.emitter.on(event, listener as (payload: unknown) => void);
    this.mark(event, true);
    if (first) this.onFirstListener?.(event);
  }

  once<E extends ServicePoolEventName>(event: E, listener: PoolListener<E>): void {
    const wrapper = (payload: unknown): void => {
      this.off(event, listener);
      (listener as (payload: unknown) => void)(payload);
    };
    this.onceWrappers.set(listener, wrapper);
    const first = !this.has(event);
    this.emitter.on(event, wrapper);
    this.mark(event, true);
    if (first) this.onFirstListener?.(event);
  }

  off<E extends ServicePoolEventName>(event: E, listener: PoolListener<E>): void {
    const wrapper = this.onceWrappers.get(listener);
    if (wrapper) this.emitter.off(event, wrapper);
    this.emitter.off(event, listener as (payload: unknown) => void);
    this.mark(event, this.emitter.listenerCount(event) > 0);
  }

  private mark(event: ServicePoolEventName, listened: boolean): void {
    this.listened[event] = listened;
    if (event === 'pool:acquire') this.acquireListened = listened;
    else if (event === 'pool:release') this.releaseListened = listened;
  }

  emit<E extends ServicePoolEventName>(event: E, payload: ServicePoolEvents[E]): void {
    if (!this.listened[event]) return;
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (payload: unknown) => void)(payload);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
