// Parses every file named on the command line with the tree-sitter grammar
// for its extension (.bicep, .ps1) and reports each syntax error with its
// file, line and column. Exits 1 if any file has one.
import { Parser, Language } from 'web-tree-sitter';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const grammar = (pkg) => join(here, 'node_modules', pkg, `${pkg}.wasm`);

await Parser.init();
const languages = {
  '.bicep': await Language.load(grammar('tree-sitter-bicep')),
  '.ps1': await Language.load(grammar('tree-sitter-powershell')),
};

function errors(node, out) {
  if (node.isError || node.isMissing) {
    out.push(node);
    return;
  }
  if (!node.hasError) return;
  for (const child of node.children) errors(child, out);
}

let bad = 0;
const parser = new Parser();
for (const file of process.argv.slice(2)) {
  const ext = file.slice(file.lastIndexOf('.'));
  const lang = languages[ext];
  if (!lang) {
    console.error(`${file}: no grammar for ${ext}`);
    bad++;
    continue;
  }
  parser.setLanguage(lang);
  const tree = parser.parse(readFileSync(file, 'utf8'));
  const found = [];
  errors(tree.rootNode, found);
  for (const n of found) {
    const what = n.isMissing ? `missing ${n.type}` : `unexpected ${JSON.stringify(n.text.slice(0, 40))}`;
    console.error(`${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: syntax error: ${what}`);
  }
  if (found.length > 0) bad++;
  else console.log(`${file}: ok`);
}
process.exit(bad > 0 ? 1 : 0);
