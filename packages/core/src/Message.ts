/**
 * Messages are `Schema` tagged classes. A message that expects a reply is a *request*: it
 * declares the schema of its success and of its error, and `ActorRef.ask` returns exactly
 * those types. Plain tagged classes are fire-and-forget messages for `tell`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Message } from "@mailroom/core"
 *
 * class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
 * class Balance extends Message.Request<Balance>()("Balance", {}, { success: Schema.Number }) {}
 * ```
 */
import { Schema } from "effect"

/** Key of the phantom property that carries a request's reply types. */
export const ReplyTypeId: unique symbol = Symbol.for("@mailroom/core/Message/Reply") as never
/** @internal */
export type ReplyTypeId = typeof ReplyTypeId

/** The reply a request declares, at the type level only. */
export interface Reply<A, E> {
  readonly [ReplyTypeId]?: { readonly success: A; readonly error: E }
}

/** Any request message. */
export type AnyRequest = Reply<any, any>

/** The success type a request declares. */
export type Success<M> = M extends { readonly [ReplyTypeId]?: { readonly success: infer A } } ? A : never

/** The error type a request declares. */
export type Failure<M> = M extends { readonly [ReplyTypeId]?: { readonly error: infer E } } ? E : never

/** The runtime schemas of a request's reply, kept on the request class. */
export interface ReplySchemas<S extends Schema.Top, F extends Schema.Top> {
  readonly success: S
  readonly error: F
}

/** A message carries at least a `_tag`. */
export interface Tagged {
  readonly _tag: string
}

/**
 * Defines a request message: a `Schema.TaggedClass` whose instances carry their reply type,
 * with the reply schemas available as `success` and `error` static properties.
 */
export const Request = <Self = never>(identifier?: string) =>
<
  const Tag extends string,
  const Fields extends Schema.Struct.Fields,
  S extends Schema.Top,
  F extends Schema.Top = Schema.Never
>(
  tag: Tag,
  fields: Fields,
  reply: { readonly success: S; readonly error?: F }
): Schema.Class<Self, Schema.TaggedStruct<Tag, Fields>, Reply<S["Type"], F["Type"]>> & ReplySchemas<S, F> => {
  const base = Schema.TaggedClass<Self>(identifier)(tag, fields) as any
  base.success = reply.success
  base.error = reply.error ?? Schema.Never
  return base
}
