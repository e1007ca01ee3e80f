/**
 * The errors of `EventStore` worth their own tag: another event already stored under an event's key. Failures of
 * whole calls stay in the core `AwsError` taxonomy, and invalid events are `EventCodec.InvalidEventError`s.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * Brands the errors of this module, so that they are recognised by their guards rather than by `instanceof`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@aws-resilience/dynamodb/EventStoreError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Another event is already stored under this key. `key` holds the key's attributes by name when the store's key
 * is not the default (`id`, the event id).
 *
 * @since 0.1.0
 * @category errors
 */
export class EventConflictError extends Data.TaggedError("EventConflictError")<{
  readonly tableName: string
  readonly id: string
  readonly key?: Readonly<Record<string, string | number>> | undefined
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const where = this.key === undefined
      ? `id ${this.id}`
      : `key ${Object.entries(this.key).map(([name, value]) => `${name}=${value}`).join(", ")} (event id ${this.id})`
    return `${this.tableName}: a different event is already stored under ${where}`
  }
}

/**
 * Any error of this module.
 *
 * @since 0.1.0
 * @category models
 */
export type EventStoreError = EventConflictError

/**
 * True for any error of this module.
 *
 * @since 0.1.0
 * @category guards
 */
export const isEventStoreError = (u: unknown): u is EventStoreError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isEventConflictError = (u: unknown): u is EventConflictError =>
  isEventStoreError(u) && u._tag === "EventConflictError"
