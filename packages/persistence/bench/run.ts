/**
 * `nx run persistence:bench`: every persistence figure, one after another. Pass figure names
 * (sqlite-group-commit, pg-group-commit, replay) to run only some; `--rounds N` (default 3).
 */
import { report } from "./report.ts"
import { replayAndRecovery } from "./replay.ts"
import { pgGroupCommit, sqliteGroupCommit } from "./writers.ts"

const args = process.argv.slice(2)
const roundsAt = args.indexOf("--rounds")
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3
const wanted = args.filter((a, i) => !a.startsWith("--") && (roundsAt < 0 || i !== roundsAt + 1))
const want = (name: string) => wanted.length === 0 || wanted.includes(name)

console.log("@mailroom/persistence benchmarks (shared 2-core machine: expect noise)")
if (want("sqlite-group-commit")) report(await sqliteGroupCommit(rounds))
if (want("pg-group-commit")) report(await pgGroupCommit(rounds))
if (want("replay")) for (const figure of await replayAndRecovery(rounds)) report(figure)
