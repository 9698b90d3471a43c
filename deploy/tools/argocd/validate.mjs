// Offline validation of Argo CD custom resources (Application, ApplicationSet, AppProject) in
// `kustomize build deploy/argocd` output, the way ../strimzi/validate.mjs checks Strimzi kinds.
//
// Argo CD's CRDs are release assets (not fetchable here). The npm package
// @kubernetes-models/argo-cd is generated from Argo CD 3's Go API types
// (github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1) and brings both halves:
//   1. compiled JSON-schema validators (types, required fields, enums);
//   2. TypeScript types: type-checking each resource as an object literal makes every unknown
//      field an error (e.g. a typo'd syncPolicy key), which the validators alone allow.
//
//   node validate.mjs --modules .cache/tools/argocd/node_modules build1.yaml ...
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const modIndex = args.indexOf("--modules");
if (modIndex < 0 || args.length < modIndex + 3) {
  console.error("usage: validate.mjs --modules NODE_MODULES FILE.yaml...");
  process.exit(2);
}
const modules = args[modIndex + 1];
const files = args.filter((_, i) => i !== modIndex && i !== modIndex + 1);
const pkg = "@kubernetes-models/argo-cd";
const { parseAllDocuments } = await import(pathToFileURL(join(modules, "yaml/dist/index.js")));

// Collect the Argo CD resources, remembering where each came from.
const resources = [];
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj && /^argoproj\.io\/[a-z0-9]+$/.test(obj.apiVersion ?? "")) {
      resources.push({ file, obj });
    }
  }
}

let failures = 0;
const invalid = new Set();
const fail = (r, message) => {
  failures += 1;
  invalid.add(r);
  console.error(`${r.file} - ${r.obj.kind} ${r.obj.metadata?.name} is invalid: ${message}`);
};

// 1. The compiled validators, one model class per apiVersion and kind.
for (const r of resources) {
  const [group, version] = r.obj.apiVersion.split("/");
  const modelFile = join(modules, pkg, group, version, `${r.obj.kind}.js`);
  // Argo CD 3 serves these kinds as v1alpha1 (other argoproj.io kinds are Argo Workflows').
  if (version !== "v1alpha1" || !existsSync(modelFile)) {
    fail(r, `${r.obj.apiVersion} ${r.obj.kind} is not in Argo CD's API (v1alpha1)`);
    continue;
  }
  r.modelFile = modelFile;
  const Model = (await import(pathToFileURL(modelFile)))[r.obj.kind];
  try {
    new Model(r.obj).validate();
  } catch (err) {
    fail(r, err.message);
  }
}

// 2. Unknown fields: type-check every resource against its interface.
const checkable = resources.filter((r) => r.modelFile);
const lines = [];
const owner = []; // line number (1-based) -> resource
const imports = new Map();
for (const r of checkable) {
  const [group, version] = r.obj.apiVersion.split("/");
  const alias = `I_${group.split(".")[0]}_${version}_${r.obj.kind}`;
  imports.set(alias, `import type { I${r.obj.kind} as ${alias} } from "${pkg}/${group}/${version}/${r.obj.kind}";`);
  r.alias = alias;
}
for (const line of imports.values()) { lines.push(line); owner.push(null); }
checkable.forEach((r, i) => {
  const body = `export const r${i}: ${r.alias} = ${JSON.stringify(r.obj, null, 2)};`.split("\n");
  for (const line of body) { lines.push(line); owner.push(r); }
});
const work = dirname(modules);
writeFileSync(join(work, "check.ts"), lines.join("\n") + "\n");
writeFileSync(join(work, "tsconfig.json"), JSON.stringify({
  compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
                     target: "es2022", skipLibCheck: true, types: [] },
  files: ["check.ts"],
}));
try {
  execFileSync(process.execPath, [join(modules, "typescript/bin/tsc"), "-p", "tsconfig.json"],
               { cwd: work, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
} catch (err) {
  const out = `${err.stdout ?? ""}${err.stderr ?? ""}`;
  for (const line of out.split("\n").filter((l) => l.trim())) {
    const m = /^check\.ts\((\d+),\d+\): error TS\d+: (.*)$/.exec(line);
    const r = m ? owner[Number(m[1]) - 1] : null;
    if (r) fail(r, m[2].replace(/ in type '[\s\S]*$/, " in its schema"));
    else if (!/^\s/.test(line)) { failures += 1; console.error(`tsc: ${line}`); }
  }
}

if (!resources.length) { failures += 1; console.error("no Argo CD resource found"); }
console.log(`Argo CD: ${resources.length} resources found in ${files.length} files - ` +
            `Valid: ${resources.length - invalid.size}, Invalid: ${invalid.size}`);
process.exit(failures ? 1 : 0);
