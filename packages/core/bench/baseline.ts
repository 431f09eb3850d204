/**
 * The ceiling for the tell figure: a plain JS array. One round pushes the 1,000,000 message
 * objects `{ n }` (built once per process, outside the timed part, like every contender's
 * messages) into a fresh array and then loops over it adding `n` to a counter — the work an
 * actor that queues first and handles later does, minus all the actor machinery.
 */
import { check, now, sumBelow, throughput, type ProcessResult } from "./harness.ts"
import { TELL_MESSAGES } from "./sizes.ts"

interface Add {
  readonly n: number
}

let messages: Array<Add> | undefined
const prebuilt = (): Array<Add> => (messages ??= Array.from({ length: TELL_MESSAGES }, (_, i) => ({ n: i })))

export const tell = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, async () => {
    const N = TELL_MESSAGES
    const msgs = prebuilt()
    const t0 = now()
    const mailbox: Array<Add> = []
    for (let i = 0; i < N; i++) mailbox.push(msgs[i]!)
    let counter = 0
    for (let i = 0; i < mailbox.length; i++) counter += mailbox[i]!.n
    const t1 = now()
    check("array counter", counter, sumBelow(N))
    return t1 - t0
  })
