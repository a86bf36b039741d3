#!/usr/bin/env node
// Syntax check of Apex sources with the Apex parser (@apexdevtools/apex-parser).
//
// Usage: node check-apex.mjs PATH...   (files or directories; directories are searched for
// .cls and .trigger files). Prints `file:line:column: message` on stderr for every syntax
// error and exits 1; exits 2 when no Apex file is found or a path cannot be read; exits 0 and
// prints `checked N Apex files` otherwise. Meta files (`*.cls-meta.xml`) are not Apex.

import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ApexErrorListener, ApexParserFactory } from "@apexdevtools/apex-parser";

class CollectingListener extends ApexErrorListener {
  constructor() {
    super();
    this.errors = [];
  }
  apexSyntaxError(line, column, msg) {
    // ANTLR columns are 0-based; editors and compilers count from 1.
    this.errors.push({ line, column: column + 1, msg });
  }
}

function apexFiles(path, found) {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === "node_modules" || entry.startsWith(".")) continue;
      apexFiles(join(path, entry), found);
    }
  } else if (path.endsWith(".cls") || path.endsWith(".trigger")) {
    found.push(path);
  }
  return found;
}

function check(file) {
  const listener = new CollectingListener();
  const source = readFileSync(file, "utf8");
  const { parser } = ApexParserFactory.createLexerAndParser(source, listener);
  if (file.endsWith(".trigger")) parser.triggerUnit();
  else parser.compilationUnit();
  return listener.errors;
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node check-apex.mjs PATH...");
  process.exit(2);
}

let files = [];
try {
  for (const path of paths) apexFiles(path, files);
} catch (err) {
  console.error(`check-apex: ${err.message}`);
  process.exit(2);
}
if (files.length === 0) {
  console.error(`check-apex: no .cls or .trigger file under ${paths.join(", ")}`);
  process.exit(2);
}

let failed = 0;
for (const file of files) {
  const errors = check(file);
  if (errors.length > 0) failed += 1;
  for (const { line, column, msg } of errors) {
    console.error(`${file}:${line}:${column}: ${msg}`);
  }
}
if (failed > 0) {
  console.error(`check-apex: syntax errors in ${failed} of ${files.length} Apex files`);
  process.exit(1);
}
console.log(`checked ${files.length} Apex files`);
