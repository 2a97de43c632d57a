// The brief extension's client: starts the brief language server (`brief lsp`, over stdio) for
// `.brief` files, restarts it on request or when its settings change, and says clearly when the
// `brief` executable cannot be found. Syntax colouring is the TextMate grammar's job
// (syntaxes/brief.tmLanguage.json); everything the server knows comes from `brief lsp`.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

const SECTION = "brief";
let client = null;
let watcher = null; // the client does not dispose a watcher it was given: stopClient does
let output = null;

/** A name with no directory part is looked up on PATH (with PATHEXT on Windows), as a shell would. */
function findExecutable(command, cwd) {
  if (command.startsWith("~")) {
    command = path.join(os.homedir(), command.slice(1));
  }
  const candidates = [];
  const suffixes = process.platform === "win32"
    ? ["", ...(process.env.PATHEXT || ".EXE;.CMD;.BAT").split(";")]
    : [""];
  if (command.includes("/") || command.includes(path.sep)) {
    const full = path.isAbsolute(command) ? command : path.resolve(cwd || process.cwd(), command);
    candidates.push(...suffixes.map((s) => full + s));
  } else {
    for (const dir of (process.env.PATH || "").split(path.delimiter).filter(Boolean)) {
      candidates.push(...suffixes.map((s) => path.join(dir, command + s)));
    }
  }
  for (const file of candidates) {
    try {
      if (fs.statSync(file).isFile()) {
        fs.accessSync(file, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
        return file;
      }
    } catch {
      // not this one
    }
  }
  return null;
}

function workspaceRoot() {
  const folders = vscode.workspace.workspaceFolders;
  return folders && folders.length ? folders[0].uri.fsPath : undefined;
}

async function reportMissing(command) {
  const choice = await vscode.window.showErrorMessage(
    `brief: cannot find the language server executable "${command}". Install brief ` +
      "(pip install brieflang) or set the setting brief.server.path to the brief executable " +
      "(for example /path/to/project/.venv/bin/brief).",
    "Open Settings",
  );
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "brief.server.path");
  }
}

async function startClient() {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = (config.get("server.path") || "brief").trim() || "brief";
  const args = config.get("server.args") || [];
  const cwd = workspaceRoot();
  const executable = findExecutable(command, cwd);
  if (!executable) {
    output.appendLine(`cannot find "${command}" (PATH: ${process.env.PATH || ""})`);
    reportMissing(command);
    return;
  }

  const serverOptions = {
    command: executable,
    args: [...args, "lsp"],
    transport: TransportKind.stdio,
    options: cwd ? { cwd } : {},
  };
  watcher = vscode.workspace.createFileSystemWatcher("**/*.brief");
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "brief" }],
    synchronize: { fileEvents: watcher },
    outputChannel: output,
  };
  // The id "brief" makes the client read its trace level from the setting brief.trace.server.
  client = new LanguageClient(SECTION, "brief language server", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    const reason = err && err.message ? err.message : String(err);
    output.appendLine(`the language server did not start: ${reason}`);
    vscode.window.showErrorMessage(
      `brief: the language server (${executable} ${[...args, "lsp"].join(" ")}) did not start: ${reason}. ` +
        "Check the setting brief.server.path and the output channel \"brief\".",
    );
  }
}

async function stopClient() {
  const running = client;
  client = null;
  if (watcher) {
    watcher.dispose();
    watcher = null;
  }
  if (running) {
    try {
      await running.dispose(); // stops the server when it runs; a no-op when it never started
    } catch (err) {
      output.appendLine(`stopping the language server: ${err && err.message ? err.message : err}`);
    }
  }
}

// Restarts run one after another (a settings change while a restart is under way waits for it).
let queue = Promise.resolve();
function restartClient() {
  queue = queue.then(stopClient).then(startClient).catch((err) => {
    output.appendLine(`restarting the language server: ${err && err.message ? err.message : err}`);
  });
  return queue;
}

async function activate(context) {
  output = vscode.window.createOutputChannel("brief");
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("brief.restartServer", restartClient),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("brief.server")) {
        restartClient();
      }
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate, findExecutable };
