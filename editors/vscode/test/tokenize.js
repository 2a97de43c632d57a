// Tokenizes .brief files with the extension's TextMate grammar, the way VS Code does
// (vscode-textmate + the Oniguruma wasm of vscode-oniguruma), and prints JSON:
// {"<file>": [{line, startIndex, endIndex, text, scopes}, ...], ...}; lines count from 0, and
// indices are in code points (as Python counts them), not UTF-16 units.
// Usage: node test/tokenize.js [FILE.brief ...]   (default: the repository's example briefs)
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const HERE = __dirname;
const EXTENSION = path.resolve(HERE, "..");
const REPO = path.resolve(EXTENSION, "..", "..");
const DEFAULT_FILES = [
  "examples/campaign/launch.brief",
  "examples/campaign/runner.brief",
  "examples/brands/acme.brief",
  "examples/brands/stride.brief",
  "tests/design_v2/campaign/launch.brief",
].map((f) => path.join(REPO, f));

async function loadRegistry() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const grammarPath = path.join(EXTENSION, "syntaxes", "brief.tmLanguage.json");
  return new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.brief") {
        return null;
      }
      return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath);
    },
  });
}

function codePoints(line, unitIndex) {
  return Array.from(line.slice(0, unitIndex)).length;
}

function tokenizeText(grammar, text) {
  const tokens = [];
  let state = vsctm.INITIAL;
  text.split(/\r?\n/).forEach((line, lineNo) => {
    const result = grammar.tokenizeLine(line, state);
    for (const token of result.tokens) {
      // the last token of a line may end past it (the newline VS Code adds); clamp to the text
      const end = Math.min(token.endIndex, line.length);
      if (end > token.startIndex) {
        tokens.push({
          line: lineNo,
          startIndex: codePoints(line, token.startIndex),
          endIndex: codePoints(line, end),
          text: line.slice(token.startIndex, end),
          scopes: token.scopes,
        });
      }
    }
    state = result.ruleStack;
  });
  return tokens;
}

async function main(argv) {
  const files = argv.length ? argv : DEFAULT_FILES;
  const registry = await loadRegistry();
  const grammar = await registry.loadGrammar("source.brief");
  if (!grammar) {
    throw new Error("the grammar source.brief did not load");
  }
  const out = {};
  for (const file of files) {
    out[file] = tokenizeText(grammar, fs.readFileSync(file, "utf8"));
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`tokenize.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
