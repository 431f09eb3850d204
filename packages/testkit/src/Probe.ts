/**
 * A probe is an actor that records every message it receives, for tests: spawn it, hand its
 * ref to the code under test, then assert on what arrived. `expect` waits (on the Effect
 * clock, so `TestClock` drives it) for the next message or fails with `ProbeTimeout`.
 *
 * @example
 * ```ts
 * const probe = yield* Probe.make(Actor.protocol(Done))
 * yield* worker.tell(new Start({ replyTo: probe.ref }))
 * const done = yield* probe.expect("1 second")
 * ```
 */
import type { Schema } from "effect"
import { Duration, Effect, Queue, Schema as S } from "effect"
import { Actor, ActorSystem } from "@mailroom/core"
import type { ActorNameTaken, Message, SystemClosed } from "@mailroom/core"

/** No message arrived within the probe's wait. */
export class ProbeTimeout extends S.TaggedError<ProbeTimeout>()("ProbeTimeout", {
  probe: S.String,
  waitedMillis: S.Number
}) {
  override get message(): string {
    return `probe ${this.probe} received nothing within ${this.waitedMillis} ms`
  }
}

/** A recording actor and what it has received. */
export interface Probe<M> {
  readonly ref: Actor.ActorRef<M>
  /** Every message received so far, in order. */
  readonly received: ReadonlyArray<M>
  /** Waits for the next message not yet expected. */
  expect(within: Duration.Input): Effect.Effect<M, ProbeTimeout>
  /** Fails if a message arrives within `within`. */
  expectNothing(within: Duration.Input): Effect.Effect<void, ProbeTimeout | UnexpectedMessage>
}

/** A message arrived while none was expected. */
export class UnexpectedMessage extends S.TaggedError<UnexpectedMessage>()("UnexpectedMessage", {
  probe: S.String,
  messageTag: S.String
}) {
  override get message(): string {
    return `probe ${this.probe} received ${this.messageTag} while expecting nothing`
  }
}

/** Spawns a probe for a protocol in the current actor system. */
export const make = <P extends Schema.Top & { readonly Type: Message.Tagged }>(
  protocol: P,
  options?: { readonly name?: string }
): Effect.Effect<Probe<P["Type"]>, ActorNameTaken | SystemClosed, ActorSystem.ActorSystem> =>
  Effect.gen(function*() {
    const received: Array<P["Type"]> = []
    const arrivals = yield* Queue.unbounded<P["Type"]>()
    const behavior = Actor.behavior(protocol, {
      label: "probe",
      initial: () => 0,
      receive: (n, msg) => {
        received.push(msg)
        Queue.offerUnsafe(arrivals, msg)
        return Effect.succeed(n + 1)
      }
    })
    const ref = yield* ActorSystem.spawn(behavior, options)
    const probe: Probe<P["Type"]> = {
      ref,
      received,
      expect: (within) =>
        Queue.take(arrivals).pipe(
          Effect.timeoutOrElse({
            duration: within,
            orElse: () => Effect.fail(new ProbeTimeout({ probe: ref.path, waitedMillis: millis(within) }))
          })
        ),
      expectNothing: (within) =>
        Queue.take(arrivals).pipe(
          Effect.flatMap((m) => Effect.fail(new UnexpectedMessage({ probe: ref.path, messageTag: m._tag }))),
          Effect.timeoutOrElse({ duration: within, orElse: () => Effect.void })
        )
    }
    return probe
  })

const millis = (d: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(d))
