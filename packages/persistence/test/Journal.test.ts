import { backends } from "./support/backends.js"
import { journalSuite } from "./support/journalSuite.js"

for (const backend of backends) journalSuite(backend)
