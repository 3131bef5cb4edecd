// Parses every KQL query graph-proxy ships with Microsoft's own Kusto
// parser and analyzer (Kusto.Language, compiled to JavaScript: the npm
// package @kusto/language-service-next) against the tables the queries
// read, and reports each syntax and semantic error (a table, column or
// function that does not exist, arguments of the wrong type) with its
// file and position. Exits 1 if any query has one.
//
//   node kql.mjs FILE...          check the queries in each file
//   node kql.mjs --self-test      check that broken queries are reported
//
// What a file holds, by its name and content:
//   .kql   one query (deploy/kql);
//   .md    every ```kusto block (docs);
//   .json  a workbook (Notebook/1.0): every query of its items and
//          parameters, each {Parameter} replaced as the workbook would
//          replace it (an undeclared parameter is an error); or an ARM
//          template: the query pack's bodies, the alert rules' queries,
//          the workbook's serializedData and the data collection rule's
//          transformation, read through the template's variables.
//
// The tables: GraphProxyAudit_CL with the columns of
// deploy/bicep/modules/audit-columns.json (read now, so a renamed column
// fails every query that still uses the old name), and
// MicrosoftGraphActivityLogs with the documented columns in
// MicrosoftGraphActivityLogs.json. A data collection rule's
// transformation reads `source`: the audit columns but TimeGenerated.
//
// Beyond the analyzer: `a and b or c` is reported. Kusto binds `and`
// tighter than `or`, so `where TimeGenerated > ago(7d) and x or y` drops
// the time filter for every row y matches; say which is meant with
// parentheses.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// Kusto.Language is a Bridge.NET assembly: the Bridge runtime first, then
// the assembly, both of which define globals.
require('@kusto/language-service-next/bridge.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.js');
const K = globalThis.Kusto.Language;
const S = K.Symbols;
const SyntaxKind = K.Syntax.SyntaxKind;

const auditColumnsFile = join(here, '..', 'bicep', 'modules', 'audit-columns.json');
const graphLogsFile = join(here, 'MicrosoftGraphActivityLogs.json');

const scalarTypes = {
  string: S.ScalarTypes.String,
  int: S.ScalarTypes.Int,
  long: S.ScalarTypes.Long,
  real: S.ScalarTypes.Real,
  datetime: S.ScalarTypes.DateTime,
  dynamic: S.ScalarTypes.Dynamic,
  boolean: S.ScalarTypes.Bool,
  bool: S.ScalarTypes.Bool,
  timespan: S.ScalarTypes.TimeSpan,
  guid: S.ScalarTypes.Guid,
};

function table(name, columns) {
  const cols = columns.map((c) => {
    const t = scalarTypes[c.type.toLowerCase()];
    if (!t) throw new Error(`${name}.${c.name}: unknown column type ${c.type}`);
    return new S.ColumnSymbol(c.name, t, c.description ?? null, null, null, null);
  });
  return new S.TableSymbol.$ctor4(name, cols);
}

const auditColumns = JSON.parse(readFileSync(auditColumnsFile, 'utf8'));
const graphColumns = JSON.parse(readFileSync(graphLogsFile, 'utf8')).columns;

function globals(tables) {
  return K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('workspace', tables));
}

// The workspace the queries run in, and the input of a data collection
// rule's transformation.
const workspace = globals([table('GraphProxyAudit_CL', auditColumns), table('MicrosoftGraphActivityLogs', graphColumns)]);
const transform = globals([table('source', auditColumns.filter((c) => c.name !== 'TimeGenerated'))]);

// check parses one query and returns its problems: {pos, len, code, msg}.
function check(text, g = workspace) {
  const code = K.KustoCode.ParseAndAnalyze(text, g);
  const out = [];
  const dx = code.GetDiagnostics();
  for (let i = 0; i < dx.Count; i++) {
    const d = dx.getItem(i);
    // Errors only: a warning or a suggestion is advice (about cost,
    // style), not a query that fails or means something else.
    if (d.Severity !== 'Error') continue;
    out.push({ pos: d.Start, len: d.Length, code: d.Code, msg: d.Message });
  }
  code.Syntax.WalkNodes((n) => {
    if (n.Kind !== SyntaxKind.OrExpression) return;
    for (const side of [n.Left, n.Right]) {
      if (side.Kind === SyntaxKind.AndExpression) {
        out.push({ pos: side.TextStart, len: side.Width, code: 'AND-OR', msg: '`and` inside `or` without parentheses: Kusto reads `a and b or c` as `(a and b) or c`; write the parentheses you mean' });
      }
    }
  });
  return out.sort((a, b) => a.pos - b.pos);
}

function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return [line, pos - before.lastIndexOf('\n')];
}

// A query found in a file: its text, where it starts (line, for files
// whose queries are verbatim: .kql and .md), a name for the messages,
// and the tables it may read.
function query(text, where, g = workspace, line = 1) {
  return { text, where, g, line };
}

function fromMarkdown(src) {
  const out = [];
  const re = /^```kusto[^\n]*\n([\s\S]*?)^```/gm;
  let m;
  while ((m = re.exec(src)) !== null) {
    const line = src.slice(0, m.index).split('\n').length + 1;
    out.push(query(m[1], `block at line ${line - 1}`, workspace, line));
  }
  return out;
}

// Workbook parameters as the workbook substitutes them. A time range
// parameter becomes a time filter, or its start, end or grain; any other
// a sample value (inside the query's quotes, where the workbook's own
// queries put them).
function substitute(text, params) {
  const problems = [];
  const out = text.replace(/\{(\w+)(?::(\w+))?\}/g, (all, name, format) => {
    const p = params.get(name);
    if (!p) {
      problems.push(`{${name}${format ? ':' + format : ''}} names no parameter of the workbook`);
      return all;
    }
    if (p === 'timerange') {
      switch (format ?? '') {
        case '': return '> ago(1d)';
        case 'start': return 'datetime(2026-01-01T00:00:00Z)';
        case 'end': return 'datetime(2026-01-02T00:00:00Z)';
        case 'grain': return '30m';
      }
      problems.push(`{${name}:${format}}: not a time range format this check knows (start, end, grain)`);
      return all;
    }
    return 'sample';
  });
  return { text: out, problems };
}

function fromWorkbook(wb, label) {
  const params = new Map();
  const items = [];
  const walk = (list) => {
    for (const it of list ?? []) {
      const c = it.content ?? {};
      if (it.type === 9) {
        for (const p of c.parameters ?? []) {
          params.set(p.name, p.type === 4 ? 'timerange' : 'value');
          if (p.query) items.push({ name: `${it.name} parameter ${p.name}`, q: p.query });
        }
      }
      if (it.type === 3 && typeof c.query === 'string') items.push({ name: it.name, q: c.query });
      if (c.exportParameterName) params.set(c.exportParameterName, 'value');
      for (const e of c.exportedParameters ?? []) params.set(e.parameterName, 'value');
      if (it.type === 12) walk(c.items);
    }
  };
  if (wb.version !== 'Notebook/1.0') throw new Error(`${label}: version ${wb.version}; want Notebook/1.0`);
  walk(wb.items);
  return items.map(({ name, q }) => {
    const s = substitute(q, params);
    const x = query(s.text, `${label}item "${name}"`);
    x.extra = s.problems;
    return x;
  });
}

// fromTemplate finds the queries of an ARM template: a string property
// holds the text itself, or an expression that reads it from a variable
// (variables('queries')['name'], within replace() and the like).
function fromTemplate(tm) {
  const out = [];
  const resolve = (v, where) => {
    if (typeof v !== 'string') throw new Error(`${where}: not a string`);
    if (!(v.startsWith('[') && v.endsWith(']')) || v.startsWith('[[')) return v;
    const m = /variables\('(\w+)'\)(?:\['([^']+)'\]|\.([\w]+))?/.exec(v);
    if (!m) throw new Error(`${where}: ${v.slice(0, 80)} reads the query from no variable`);
    let x = tm.variables?.[m[1]];
    const key = m[2] ?? m[3];
    if (key !== undefined) x = x?.[key];
    if (typeof x !== 'string') throw new Error(`${where}: variables('${m[1]}')${key ? '.' + key : ''} is not a string`);
    return x;
  };
  for (const r of tm.resources ?? []) {
    const type = (r.type ?? '').toLowerCase();
    const p = r.properties ?? {};
    const name = `${r.type} ${r.name}`;
    switch (type) {
      case 'microsoft.operationalinsights/querypacks/queries':
        out.push(query(resolve(p.body, name), `${name}: properties.body`));
        break;
      case 'microsoft.insights/scheduledqueryrules':
        (p.criteria?.allOf ?? []).forEach((c, i) => out.push(query(resolve(c.query, name), `${name}: properties.criteria.allOf[${i}].query`)));
        break;
      case 'microsoft.insights/workbooks':
        out.push(...fromWorkbook(JSON.parse(resolve(p.serializedData, name)), `${name}: properties.serializedData `));
        break;
      case 'microsoft.insights/datacollectionrules':
        (p.dataFlows ?? []).forEach((f, i) => {
          if (f.transformKql) out.push(query(resolve(f.transformKql, name), `${name}: properties.dataFlows[${i}].transformKql`, transform));
        });
        break;
    }
  }
  return out;
}

function queriesIn(file) {
  const src = readFileSync(file, 'utf8');
  if (file.endsWith('.kql')) return [query(src, '', workspace, 1)];
  if (file.endsWith('.md')) return fromMarkdown(src);
  if (file.endsWith('.json')) {
    const v = JSON.parse(src);
    if (v.version === 'Notebook/1.0') return fromWorkbook(v, '');
    if (typeof v.$schema === 'string' && v.$schema.includes('deploymentTemplate')) return fromTemplate(v);
    throw new Error('neither a workbook (Notebook/1.0) nor an ARM template');
  }
  throw new Error('not a .kql, .md or .json file');
}

// report prints each problem of each query; it returns the number of
// queries with one.
function report(file, queries) {
  let bad = 0;
  for (const q of queries) {
    const problems = check(q.text, q.g);
    for (const e of q.extra ?? []) console.error(`${file}: ${q.where}: ${e}`);
    for (const p of problems) {
      const [l, c] = lineCol(q.text, p.pos);
      const at = q.where === '' || q.line > 1 ? `${file}:${q.line + l - 1}:${c}` : `${file}: ${q.where}: line ${l} column ${c}`;
      const near = JSON.stringify(q.text.slice(p.pos, p.pos + Math.max(p.len, 1)).slice(0, 40));
      console.error(`${at}: ${p.code} ${p.msg} (at ${near})`);
    }
    if (problems.length + (q.extra?.length ?? 0) > 0) bad++;
  }
  return bad;
}

// selfTest checks the queries of testdata/broken.md: each ```kusto block
// follows a line <!-- want CODE --> naming the diagnostic it must get.
function selfTest() {
  const file = relative(process.cwd(), join(here, 'testdata', 'broken.md'));
  const src = readFileSync(file, 'utf8');
  const re = /<!-- want (\S+) -->\n```kusto\n([\s\S]*?)```/g;
  let m;
  let n = 0;
  let missed = 0;
  while ((m = re.exec(src)) !== null) {
    n++;
    const codes = check(m[2]).map((p) => p.code);
    if (!codes.includes(m[1])) {
      missed++;
      console.error(`${file}: block ${n}: want ${m[1]}, got ${codes.join(', ') || 'nothing'}`);
    }
  }
  if (n === 0) {
    console.error(`${file}: no cases`);
    return 1;
  }
  console.log(`${file}: ${n} broken queries, ${n - missed} reported as expected`);
  return missed > 0 ? 1 : 0;
}

const args = process.argv.slice(2);
if (args[0] === '--self-test') process.exit(selfTest());
let badFiles = 0;
for (const file of args) {
  let queries;
  try {
    queries = queriesIn(file);
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    badFiles++;
    continue;
  }
  const bad = report(file, queries);
  if (bad > 0) badFiles++;
  else if (queries.length === 0) console.log(`${file}: no queries`);
  else console.log(`${file}: ${queries.length} quer${queries.length === 1 ? 'y' : 'ies'} ok`);
}
process.exit(badFiles > 0 ? 1 : 0);
