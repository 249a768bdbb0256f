// Observable's side of sperse-bench (issue #9), workload 4: the graphs of
// cmd/sperse-bench (a chain, a fan-out and a random diamond graph of
// 10,000 cells, read from the JSON file given), each defined in a new
// @observablehq/runtime module with every variable observed (so that each
// is computed, as every sperse cell is), then the root redefined.
//
//   OBSERVABLE_RUNTIME_DIR=DIR node observable_bench.mjs GRAPHS.json REPS
//
// DIR is the folder whose node_modules holds @observablehq/runtime (npm
// install --prefix DIR). A cell's time runs from its definition until every
// variable's observer has been given its value. It prints one JSON
// object on standard output: "4.initial.NAME" and "4.propagate.NAME" with
// the seconds of each repetition.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [graphsFile, repsArg] = process.argv.slice(2);
const reps = Number(repsArg || 5);
const dir = process.env.OBSERVABLE_RUNTIME_DIR || process.cwd();
const require = createRequire(join(dir, "package.json"));
const { Runtime } = await import(pathToFileURL(require.resolve("@observablehq/runtime")).href);

const graphs = JSON.parse(readFileSync(graphsFile, "utf8"));

// fn returns the function of cell i of g, computing what sperse's cell
// computes (see graph.localCells in sperse.go).
function fn(g, i) {
  if (g.name === "chain") return (a) => a + 1;
  if (g.name === "fanout") return (a) => a + i;
  return (...xs) => (xs.reduce((s, x) => s + x, 0) + 1) % 1000003;
}

function expectedLast(g, root) {
  const vals = new Array(g.deps.length);
  vals[0] = root;
  for (let i = 1; i < vals.length; i++) {
    vals[i] = fn(g, i)(...g.deps[i].map((d) => vals[d]));
  }
  return vals[vals.length - 1];
}

// run defines g with root value root in a new runtime and waits until every
// variable has a value; then redefines the root and waits again. It returns
// the two times in seconds.
async function run(g, root) {
  const runtime = new Runtime();
  const main = runtime.module();
  const n = g.deps.length;
  let fulfilled = 0;
  let target = n;
  let wake = null;
  let failure = null;
  const last = { value: undefined };
  const observer = (i) => ({
    fulfilled(value) {
      fulfilled++;
      if (i === n - 1) last.value = value;
      if (fulfilled >= target && wake) wake();
    },
    rejected(err) {
      failure = err;
      if (wake) wake();
    },
  });
  const done = () =>
    new Promise((resolve) => {
      wake = resolve;
      if (fulfilled >= target || failure) resolve();
    });

  let t = performance.now();
  const root0 = main.variable(observer(0)).define("c0", [], () => root);
  for (let i = 1; i < n; i++) {
    main.variable(observer(i)).define("c" + i, g.deps[i].map((d) => "c" + d), fn(g, i));
  }
  await done();
  const initial = (performance.now() - t) / 1000;
  if (failure) throw failure;
  if (last.value !== expectedLast(g, root)) throw new Error(`${g.name}: last is ${last.value}, want ${expectedLast(g, root)}`);

  target = fulfilled + n;
  t = performance.now();
  root0.define("c0", [], () => root + 1);
  await done();
  const change = (performance.now() - t) / 1000;
  if (failure) throw failure;
  if (last.value !== expectedLast(g, root + 1)) throw new Error(`${g.name}: after the change, last is ${last.value}, want ${expectedLast(g, root + 1)}`);
  runtime.dispose();
  return [initial, change];
}

const out = {};
for (let rep = 0; rep < reps; rep++) {
  for (const g of graphs) {
    const [initial, change] = await run(g, rep);
    (out["4.initial." + g.name] ??= []).push(initial);
    (out["4.propagate." + g.name] ??= []).push(change);
  }
}
console.log(JSON.stringify(out));
