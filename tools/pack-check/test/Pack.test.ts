/**
 * The packages as a user installs them. A workspace resolves every `@mailroom/*` package to its
 * sources and shares one `effect`, so it cannot show what a user gets: this test checks each
 * publishable package's manifest, packs them all (`npm pack`), installs the tarballs into a fresh
 * project outside the repository beside `effect` (from the npm cache, the registry if the cache
 * lacks it), and runs there the first example of each package README, as written, on Node and
 * Deno, comparing what it prints with the output the README shows.
 *
 * Without the registry and without the packages in the npm cache, the install tests skip with a
 * message; the manifest checks always run.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import type { SpawnSyncReturns } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"

const root = fileURLToPath(new URL("../../../", import.meta.url))

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly files?: ReadonlyArray<string>
  readonly exports?: Record<string, Record<string, string>>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly devDependencies?: Record<string, string>
}

const readJson = <A>(path: string): A => JSON.parse(readFileSync(path, "utf8")) as A
const installed = (name: string): string => readJson<Manifest>(join(root, "node_modules", name, "package.json")).version

/** Every package under packages/ that is not private: what would be published. */
const publishable = readdirSync(join(root, "packages"))
  .filter((dir) => existsSync(join(root, "packages", dir, "package.json")))
  .map((dir) => ({ dir, manifest: readJson<Manifest>(join(root, "packages", dir, "package.json")) }))
  .filter(({ manifest }) => manifest.private !== true)

/** `^x.y.z` holds `version` (the only range form the manifests use). */
const caretHolds = (range: string, version: string): boolean => {
  const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range)
  if (m === null) return false
  const want = m.slice(1).map(Number)
  const have = version.split(/[.-]/).slice(0, 3).map(Number)
  if (want[0] !== have[0]) return false
  if (want[0] === 0 && want[1] !== have[1]) return false
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i]! > want[i]!
  return true
}

/** The packages a package's src/ imports (bare specifiers, without node builtins). */
const importsOf = (dir: string): Set<string> => {
  const found = new Set<string>()
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith(".ts")) {
        const source = readFileSync(full, "utf8")
        for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^"'`]*?\bfrom\s+["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
          const spec = (m[1] ?? m[2])!
          if (spec.startsWith(".") || spec.startsWith("node:") || builtinModules.includes(spec)) continue
          const parts = spec.split("/")
          found.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!)
        }
      }
    }
  }
  walk(join(root, "packages", dir, "src"))
  return found
}

describe("publishable manifests", () => {
  it("there are publishable packages to check", () => {
    expect(publishable.map((p) => p.dir)).toEqual(expect.arrayContaining(["core", "persistence", "scheduler", "tasks", "testkit"]))
  })

  const effectVersion = installed("effect")
  for (const { dir, manifest } of publishable) {
    it(`${manifest.name}: effect and @effect/* are peers (one copy, the user's), the workspace builds against a pinned copy`, () => {
      const problems: Array<string> = []
      const deps = manifest.dependencies ?? {}
      const peers = manifest.peerDependencies ?? {}
      const dev = manifest.devDependencies ?? {}
      for (const name of Object.keys(deps)) {
        if (name === "effect" || name.startsWith("@effect/")) {
          problems.push(`"${name}" is in dependencies: a user with another version gets a second copy; make it a peerDependency`)
        }
      }
      const effectPeer = peers["effect"]
      if (effectPeer === undefined) problems.push(`no peerDependencies.effect`)
      else if (!caretHolds(effectPeer, effectVersion)) problems.push(`peerDependencies.effect "${effectPeer}" does not hold the workspace's effect ${effectVersion}`)
      for (const [name, range] of Object.entries(peers)) {
        if (name === "effect" || !name.startsWith("@effect/")) continue
        if (!caretHolds(range, installed(name))) problems.push(`peerDependencies["${name}"] "${range}" does not hold the workspace's ${installed(name)}`)
        if (dev[name] === undefined) problems.push(`peer "${name}" has no devDependency: the workspace would not build against it`)
      }
      if (dev["effect"] !== effectVersion) problems.push(`devDependencies.effect is "${dev["effect"]}", the workspace has ${effectVersion}`)
      // Whatever src/ imports must be installed for a user: a dependency or a peer, not a devDependency.
      for (const name of importsOf(dir)) {
        if (name === manifest.name) continue
        if (deps[name] === undefined && peers[name] === undefined) problems.push(`src/ imports "${name}", which is neither a dependency nor a peer`)
        else if ((name === "effect" || name.startsWith("@effect/")) && peers[name] === undefined) problems.push(`src/ imports "${name}": it must be a peer`)
      }
      for (const [name, range] of Object.entries(deps)) {
        if (!name.startsWith("@mailroom/")) continue
        const sibling = publishable.find((p) => p.manifest.name === name)
        if (sibling === undefined) problems.push(`depends on ${name}, which is not a publishable package of this repository`)
        else if (!caretHolds(range, sibling.manifest.version)) problems.push(`dependencies["${name}"] "${range}" does not hold its version ${sibling.manifest.version}`)
      }
      if (!(manifest.files ?? []).includes("dist")) problems.push(`files does not include dist`)
      const entry = manifest.exports?.["."]?.["default"]
      if (entry === undefined || !entry.startsWith("./dist/")) problems.push(`exports["."].default is "${entry}", not a built file under dist/`)
      expect(problems).toStrictEqual([])
    })
  }
})

// ---------------------------------------------------------------------------------------------
// Packed and installed.

const npmNetworkError = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED|ERR_SOCKET_TIMEOUT)\b/
const deno = join(root, "node_modules", ".bin", "deno")

/** The environment of the runs: no colours (vitest and nx set FORCE_COLOR; the examples' output is compared as text). */
const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", npm_config_update_notifier: "false" }
delete env["FORCE_COLOR"]

const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeout = 60_000): SpawnSyncReturns<string> =>
  spawnSync(command, args, { cwd, encoding: "utf8", timeout, env })

const show = (r: SpawnSyncReturns<string>): string => `exit ${r.status}${r.error ? ` (${r.error.message})` : ""}\n${r.stdout}\n${r.stderr}`

/**
 * `npm install` from the cache only; if that fails, again with the registry for what the cache
 * lacks (npm `--offline` reports a missing package in several ways, `ENOTCACHED` or an `ERESOLVE`
 * over `effect@undefined`, so any failure is retried). Answers `offline` when the second run
 * failed for want of the network (the caller skips).
 */
const npmInstall = (cwd: string, args: ReadonlyArray<string>): { readonly ok: SpawnSyncReturns<string> } | { readonly offline: string } => {
  const common = ["install", "--no-audit", "--no-fund", "--ignore-scripts", ...args]
  const cached = run("npm", [...common, "--loglevel=error", "--offline"], cwd)
  if (cached.status === 0) return { ok: cached }
  // Few and short retries: without a network npm would otherwise retry for minutes. A failed
  // fetch may surface only as an ERESOLVE over `effect@undefined`; the http log names its cause.
  const online = run("npm", [...common, "--loglevel=http", "--prefer-offline", "--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=2000", "--fetch-timeout=20000"], cwd, 45_000)
  if (online.error !== undefined) return { offline: `npm install did not finish: ${online.error.message}` }
  if (online.status !== 0 && npmNetworkError.test(online.stderr)) return { offline: online.stderr.trim().split("\n").slice(0, 3).join(" | ") }
  return { ok: online }
}

/** The first ```ts block of a README. */
const firstExample = (dir: string): string => {
  const readme = readFileSync(join(root, "packages", dir, "README.md"), "utf8")
  const block = /```ts\n([\s\S]*?)```/.exec(readme)
  if (block === null) throw new Error(`packages/${dir}/README.md has no ts example`)
  return block[1]!
}

/** The output a README example shows: the `// ` comment lines after its last line of code. */
const shownOutput = (example: string): Array<string> => {
  const lines = example.trimEnd().split("\n")
  const shown: Array<string> = []
  while (lines.length > 0 && lines[lines.length - 1]!.startsWith("// ")) shown.unshift(lines.pop()!.slice(3))
  return shown
}

/** Every `package.json` of a package named `name` under a node_modules tree. */
const copiesOf = (modules: string, name: string): Array<string> => {
  const found: Array<string> = []
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      if (entry.name.startsWith("@")) {
        for (const scoped of readdirSync(join(dir, entry.name), { withFileTypes: true })) {
          if (scoped.isDirectory()) visit(join(dir, entry.name, scoped.name), `${entry.name}/${scoped.name}`)
        }
      } else if (!entry.name.startsWith(".")) visit(join(dir, entry.name), entry.name)
    }
  }
  const visit = (pkg: string, pkgName: string): void => {
    if (pkgName === name && existsSync(join(pkg, "package.json"))) found.push(pkg)
    walk(join(pkg, "node_modules"))
  }
  walk(modules)
  return found
}

const work = mkdtempSync(join(tmpdir(), "mailroom-pack-"))
const tarballs = join(work, "tarballs")
const project = join(work, "project")
let install: { readonly ok: SpawnSyncReturns<string> } | { readonly offline: string } | undefined
const timings: Record<string, number> = {}
const timed = <A>(label: string, f: () => A): A => {
  const start = performance.now()
  try {
    return f()
  } finally {
    timings[label] = Math.round(performance.now() - start)
  }
}

let warned = false

/** The install's run, or a skip with the reason when there was neither cache nor registry. */
const installedOrSkip = (skip: (note: string) => never): SpawnSyncReturns<string> => {
  if (install === undefined) throw new Error("install did not run")
  if ("offline" in install) {
    const note = `pack check skipped: the npm registry is unreachable and the npm cache lacks effect or vitest (${install.offline}); run \`npm ci\` online once to fill the cache`
    if (!warned) console.warn(note)
    warned = true
    return skip(note)
  }
  return install.ok
}

describe("packed packages, installed into a fresh project", () => {
  beforeAll(() => {
    mkdirSync(tarballs)
    mkdirSync(project)
    for (const { dir } of publishable) {
      if (!existsSync(join(root, "packages", dir, "dist", "index.js"))) {
        throw new Error(`packages/${dir}/dist is not built: run the pack check through nx (npx nx run pack-check:test), which builds the packages first`)
      }
    }
    const packed = timed("npm pack", () =>
      run("npm", ["pack", "--ignore-scripts", "--loglevel=error", "--pack-destination", tarballs, ...publishable.map((p) => `./packages/${p.dir}`)], root))
    if (packed.status !== 0) throw new Error(`npm pack failed: ${show(packed)}`)
    const dependencies: Record<string, string> = {
      effect: installed("effect"),
      "@effect/vitest": installed("@effect/vitest"),
      vitest: installed("vitest")
    }
    for (const file of readdirSync(tarballs)) {
      const p = publishable.find(({ manifest }) => `${manifest.name.slice(1).replace("/", "-")}-${manifest.version}.tgz` === file)
      if (p !== undefined) dependencies[p.manifest.name] = `file:${join(tarballs, file)}`
    }
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "mailroom-user", private: true, type: "module", dependencies }, null, 2))
    install = timed("npm install", () => npmInstall(project, []))
  }, 150_000)

  afterAll(() => {
    console.log(`pack check timings (ms): ${JSON.stringify(timings)}`)
    rmSync(work, { recursive: true, force: true })
  })

  it("installs with one copy of effect and of each @mailroom package", ({ skip }) => {
    const r = installedOrSkip(skip)
    expect(r.status, show(r)).toBe(0)
    const modules = join(project, "node_modules")
    expect(copiesOf(modules, "effect")).toStrictEqual([join(modules, "effect")])
    for (const { manifest } of publishable) expect(copiesOf(modules, manifest.name)).toStrictEqual([join(modules, manifest.name)])
  })

  it("every package loads from its tarball (the built entry, not the sources)", ({ skip }) => {
    installedOrSkip(skip)
    const names = publishable.map((p) => p.manifest.name)
    const script = `for (const name of ${JSON.stringify(names)}) { const url = import.meta.resolve(name); if (!url.includes("/dist/")) throw new Error(name + " resolved to " + url); await import(name) } console.log("loaded")`
    const r = timed("load all", () => run(process.execPath, ["--input-type=module", "-e", script], project))
    expect(r.stdout.trim(), show(r)).toBe("loaded")
  })

  for (const dir of ["core", "scheduler", "persistence"]) {
    for (const runtime of ["node", "deno"] as const) {
      it(`packages/${dir}/README.md's example runs as written on ${runtime === "node" ? "Node" : "Deno"} and prints what the README shows`, ({ skip }) => {
        installedOrSkip(skip)
        const example = firstExample(dir)
        const expected = shownOutput(example)
        expect(expected.length, "the example shows its output in trailing // comments").toBeGreaterThan(0)
        const file = join(project, `${dir}-readme.ts`)
        writeFileSync(file, example)
        // Each run in a fresh working directory: an example may write files there.
        const cwd = mkdtempSync(join(project, `run-${dir}-${runtime}-`))
        const r = timed(`${dir} on ${runtime}`, () =>
          runtime === "node" ? run(process.execPath, [file], cwd) : run(deno, ["run", "--allow-all", file], cwd))
        expect(r.status, show(r)).toBe(0)
        expect(r.stdout.trimEnd().split("\n")).toStrictEqual(expected)
      })
    }
  }

  it("packages/testkit/README.md's example passes under vitest", ({ skip }) => {
    installedOrSkip(skip)
    writeFileSync(join(project, "readme.test.ts"), firstExample("testkit"))
    const r = timed("testkit under vitest", () =>
      run(process.execPath, [join(project, "node_modules", "vitest", "vitest.mjs"), "run", "readme.test.ts"], project))
    expect(r.status, show(r)).toBe(0)
    expect(r.stdout).toMatch(/1 passed/)
  })

  it("npm refuses an effect outside the peer range instead of installing a second copy", ({ skip }) => {
    installedOrSkip(skip)
    const other = join(work, "other-effect")
    mkdirSync(other)
    // 4.0.6 is the last effect 4.0 release: outside ^4.1.0.
    const dependencies: Record<string, string> = { effect: "4.0.6" }
    for (const file of readdirSync(tarballs)) if (file.startsWith("mailroom-core-")) dependencies["@mailroom/core"] = `file:${join(tarballs, file)}`
    writeFileSync(join(other, "package.json"), JSON.stringify({ name: "mailroom-user-old-effect", private: true, type: "module", dependencies }))
    const result = timed("npm install, effect 4.0.6", () => npmInstall(other, ["--dry-run"]))
    if ("offline" in result) return skip(`skipped: effect 4.0.6 is not in the npm cache and the registry is unreachable (${result.offline})`)
    expect(result.ok.status, show(result.ok)).not.toBe(0)
    expect(result.ok.stderr).toMatch(/ERESOLVE/)
    expect(result.ok.stderr).toMatch(/Found: effect@4\.0\.6/)
    expect(result.ok.stderr).toMatch(/peer effect@"\^4\.\d+\.\d+" from @mailroom\/core/)
  })
})
