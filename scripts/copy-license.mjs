// Run by each publishable package's `prepack`: npm and pnpm only pack files inside the
// package folder, so the repository's LICENSE is copied next to package.json first.
// The copies are git-ignored; the root LICENSE is the one to edit.
import { copyFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

copyFileSync(fileURLToPath(new URL("../LICENSE", import.meta.url)), "LICENSE");
